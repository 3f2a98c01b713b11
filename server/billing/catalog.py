"""REST endpoints of the billing catalog's taxes and services' billing terms: the clinic's VAT
rates (basis points: 1900 = 19 %) and, per service, how a visit is billed (`session_based` at
its price, `time_based` at a rate per started unit of time, `hybrid`: the price plus the rate
per unit), its code for insurers' claims and its VAT rate. Admins and the owner write; staff
read. A service or rate of another clinic is 404 (or 422 when referenced)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pipelines.billing import BillingModel
from server.billing import schemas
from server.billing._common import CATALOG_READERS, CATALOG_WRITERS, TAG, price, uuid_or_none
from server.errors import not_found
from server.http import iso, json_response, path_id, read_json
from server.routing import Endpoint
from server.web.params import uuid_value
from server.work import Work, unit_of_work
from storage import billing as store


def render_tax_rate(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "rate_bp": row["rate_bp"],
        "active": row["active"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def render_service_billing(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "service_id": str(row["id"]),
        "name": row["name"],
        "price": price(row),
        "billing_model": row["billing_model"],
        "time_unit_min": row["time_unit_min"],
        "rate_per_unit": row["rate_per_unit"],
        "service_code": row["service_code"],
        "tax_rate_id": uuid_or_none(row["tax_rate_id"]),
    }


async def create_tax_rate(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.TAX_RATE_IN)
    async with unit_of_work(request, Work) as work:
        row = await store.create_tax_rate(work.org_id, name=body["name"], rate_bp=body["rate_bp"])
        await work.audit("tax_rate.create", "tax_rate", row["id"], after=render_tax_rate(row))
    return json_response(render_tax_rate(row), status=201)


async def list_tax_rates(request: web.Request) -> web.Response:
    async with unit_of_work(request, Work):
        found = await store.list_tax_rates()
    return json_response({"data": [render_tax_rate(r) for r in found]})


async def update_tax_rate(request: web.Request) -> web.Response:
    tax_rate_id = path_id(request, what="tax rate")
    body = await read_json(request, schemas.TAX_RATE_PATCH)
    async with unit_of_work(request, Work) as work:
        before = await store.get_tax_rate(tax_rate_id)
        if before is None:
            raise not_found("tax rate")
        row = await store.update_tax_rate(tax_rate_id, body)
        await work.audit(
            "tax_rate.update", "tax_rate", tax_rate_id,
            before=render_tax_rate(before), after=render_tax_rate(row),
        )  # fmt: skip
    return json_response(render_tax_rate(row))


async def get_service_billing(request: web.Request) -> web.Response:
    service_id = path_id(request, what="service")
    async with unit_of_work(request, Work):
        row = await store.get_service_billing(service_id)
    if row is None:
        raise not_found("service")
    return json_response(render_service_billing(row))


async def put_service_billing(request: web.Request) -> web.Response:
    service_id = path_id(request, what="service")
    body = await read_json(request, schemas.SERVICE_BILLING_IN)
    raw_tax = body.get("tax_rate_id")
    async with unit_of_work(request, Work) as work:
        before = await store.get_service_billing(service_id)
        if before is None:
            raise not_found("service")
        row = await store.set_service_billing(
            service_id,
            billing_model=BillingModel(body["billing_model"]),
            time_unit_min=body.get("time_unit_min"),
            rate_per_unit=body.get("rate_per_unit"),
            service_code=body.get("service_code"),
            tax_rate_id=None if raw_tax is None else uuid_value(raw_tax, "tax_rate_id"),
        )
        await work.audit(
            "service.billing", "service", service_id,
            before=render_service_billing(before), after=render_service_billing(row),
        )  # fmt: skip
    return json_response(render_service_billing(row))


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/v1/tax-rates", create_tax_rate, CATALOG_WRITERS,
             "Add a VAT rate of the clinic (basis points)", TAG,
             request_schema=schemas.TAX_RATE_IN, response_schema=schemas.TAX_RATE, status=201,
             errors=(409, 422)),
    Endpoint("GET", "/v1/tax-rates", list_tax_rates, CATALOG_READERS,
             "The clinic's VAT rates", TAG, response_schema=schemas.TAX_RATES),
    Endpoint("PATCH", "/v1/tax-rates/{id}", update_tax_rate, CATALOG_WRITERS,
             "Rename, change or retire a VAT rate (issued invoices keep theirs)", TAG,
             request_schema=schemas.TAX_RATE_PATCH, response_schema=schemas.TAX_RATE,
             errors=(404, 409, 422)),
    Endpoint("GET", "/v1/services/{id}/billing", get_service_billing, CATALOG_READERS,
             "How a service is billed: model, rate per unit, claim code, VAT rate", TAG,
             response_schema=schemas.SERVICE_BILLING, errors=(404,)),
    Endpoint("PUT", "/v1/services/{id}/billing", put_service_billing, CATALOG_WRITERS,
             "Set how a service is billed (session_based | time_based | hybrid)", TAG,
             request_schema=schemas.SERVICE_BILLING_IN,
             response_schema=schemas.SERVICE_BILLING, errors=(404, 409, 422)),
]  # fmt: skip
