"""REST endpoints of products: items the clinic sells alone or bundled with a service plan,
with a price and a stock count that a sale takes from (never below zero: 409 `out_of_stock`).
Admins and the owner write; staff read."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.billing import schemas
from server.billing._common import CATALOG_READERS, CATALOG_WRITERS, TAG, price, uuid_or_none
from server.errors import not_found
from server.http import iso, json_response, path_id, read_json
from server.routing import Endpoint
from server.web.paging import instant_id_page, page_response
from server.web.params import uuid_value
from server.work import Work, unit_of_work
from storage import billing as store


def render_product(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "sku": row["sku"],
        "price": price(row),
        "tax_rate_id": uuid_or_none(row["tax_rate_id"]),
        "stock": row["stock"],
        "active": row["active"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in body.items() if k in ("name", "sku", "stock", "active")}
    if "price" in body:
        changes["price_amount"] = body["price"]["amount"]
        changes["price_currency"] = body["price"]["currency"]
    if "tax_rate_id" in body:
        raw = body["tax_rate_id"]
        changes["tax_rate_id"] = None if raw is None else uuid_value(raw, "tax_rate_id")
    return changes


async def create_product(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.PRODUCT_IN)
    changes = _changes(body)
    async with unit_of_work(request, Work) as work:
        row = await store.create_product(
            work.org_id,
            name=body["name"],
            sku=body.get("sku"),
            price_amount=changes["price_amount"],
            price_currency=changes["price_currency"],
            tax_rate_id=changes.get("tax_rate_id"),
            stock=body.get("stock", 0),
        )
        await work.audit("product.create", "product", row["id"], after=render_product(row))
    return json_response(render_product(row), status=201)


async def list_products(request: web.Request) -> web.Response:
    page = instant_id_page(request)
    async with unit_of_work(request, Work):
        found = await store.list_products(page.limit + 1, page.after)
    return json_response(
        page_response(found, page, render_product, lambda r: [r["created_at"], r["id"]])
    )


async def get_product(request: web.Request) -> web.Response:
    product_id = path_id(request, what="product")
    async with unit_of_work(request, Work):
        row = await store.get_product(product_id)
    if row is None:
        raise not_found("product")
    return json_response(render_product(row))


async def update_product(request: web.Request) -> web.Response:
    product_id = path_id(request, what="product")
    body = await read_json(request, schemas.PRODUCT_PATCH)
    async with unit_of_work(request, Work) as work:
        before = await store.get_product(product_id, lock=True)
        if before is None:
            raise not_found("product")
        row = await store.update_product(product_id, _changes(body))
        await work.audit(
            "product.update", "product", product_id,
            before=render_product(before), after=render_product(row),
        )  # fmt: skip
    return json_response(render_product(row))


ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/v1/products", create_product, CATALOG_WRITERS,
             "Add a product (price, VAT rate, stock count)", TAG,
             request_schema=schemas.PRODUCT_IN, response_schema=schemas.PRODUCT, status=201,
             errors=(409, 422)),
    Endpoint("GET", "/v1/products", list_products, CATALOG_READERS, "The clinic's products", TAG,
             response_schema=schemas.PRODUCTS_PAGE, query={"limit": "", "cursor": ""},
             errors=(422,)),
    Endpoint("GET", "/v1/products/{id}", get_product, CATALOG_READERS, "A product", TAG,
             response_schema=schemas.PRODUCT, errors=(404,)),
    Endpoint("PATCH", "/v1/products/{id}", update_product, CATALOG_WRITERS,
             "Change a product: name, sku, price, VAT rate, stock count, active", TAG,
             request_schema=schemas.PRODUCT_PATCH, response_schema=schemas.PRODUCT,
             errors=(404, 409, 422)),
]  # fmt: skip
