"""REST endpoints of the billing domain."""

from server.billing import catalog, claims, invoices, payments, plans, products, reports
from server.routing import Endpoint

ENDPOINTS: list[Endpoint] = [
    *catalog.ENDPOINTS,
    *products.ENDPOINTS,
    *plans.ENDPOINTS,
    *invoices.ENDPOINTS,
    *payments.ENDPOINTS,
    *claims.ENDPOINTS,
    *reports.ENDPOINTS,
]
