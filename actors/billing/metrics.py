"""Metrics of the billing pumps (exported through the default registry)."""

from prometheus_client import Counter, Gauge

OVERDUE_MARKED = Counter(
    "cadence_invoices_marked_overdue_total", "Invoices the sweep moved to overdue"
)
OVERDUE_PENDING = Gauge(
    "cadence_invoices_overdue_pending", "Open invoices past their due date not yet marked overdue"
)
