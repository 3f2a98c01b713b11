"""The billing catalog: VAT rates, services' billing terms, products and service plans.
Every function runs inside `Database.tenant(org)`; rows are dicts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from pipelines.billing import BillingModel, MoneyError, check_currency
from storage.billing._errors import invalid_money
from storage.errors import Invalid, NotFound
from storage.orm import first, rows
from storage.tables import (
    Products,
    ServicePlanProducts,
    ServicePlans,
    ServicePlanServices,
    Services,
    TaxRates,
)

Row = dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


# --- VAT rates ---------------------------------------------------------------------------------


async def create_tax_rate(org: uuid.UUID, *, name: str, rate_bp: int) -> Row:
    inserted = await rows(
        TaxRates.insert(TaxRates(organization_id=org, name=name, rate_bp=rate_bp)).returning(
            *TaxRates.all_columns()
        )
    )
    return inserted[0]


async def list_tax_rates() -> list[Row]:
    return await rows(TaxRates.select().order_by(TaxRates.created_at).order_by(TaxRates.id))


async def get_tax_rate(tax_rate_id: uuid.UUID) -> Row | None:
    return await first(TaxRates.select().where(TaxRates.id == tax_rate_id).first())


async def update_tax_rate(tax_rate_id: uuid.UUID, changes: Mapping[str, Any]) -> Row:
    """Rename, change the rate or retire a rate. Issued invoices keep the rate they printed
    (lines copy it), so a change applies to what is invoiced from now on."""
    values: dict[Any, Any] = {getattr(TaxRates, k): v for k, v in changes.items()}
    values[TaxRates.updated_at] = _now()
    updated = await rows(
        TaxRates.update(values).where(TaxRates.id == tax_rate_id).returning(*TaxRates.all_columns())
    )
    if not updated:
        raise NotFound("tax rate")
    return updated[0]


async def tax_rate_bp(tax_rate_id: uuid.UUID | None, field: str = "tax_rate_id") -> int:
    """The rate of a tax rate reference (0 without one); 422 for an unknown or retired one."""
    if tax_rate_id is None:
        return 0
    row = await get_tax_rate(tax_rate_id)
    if row is None or not row["active"]:
        raise Invalid({field: "is not an active tax rate of this clinic"})
    rate: int = row["rate_bp"]
    return rate


async def _check_tax_reference(tax_rate_id: uuid.UUID | None) -> None:
    await tax_rate_bp(tax_rate_id)


# --- services' billing terms -------------------------------------------------------------------

SERVICE_BILLING_COLUMNS = (
    "billing_model",
    "time_unit_min",
    "rate_per_unit",
    "service_code",
    "tax_rate_id",
)


async def get_service_billing(service_id: uuid.UUID) -> Row | None:
    return await first(
        Services.select(
            Services.id,
            Services.name,
            Services.duration_min,
            Services.price_amount,
            Services.price_currency,
            *(getattr(Services, c) for c in SERVICE_BILLING_COLUMNS),
        )
        .where((Services.id == service_id) & Services.deleted_at.is_null())
        .first()
    )


async def set_service_billing(
    service_id: uuid.UUID,
    *,
    billing_model: BillingModel,
    time_unit_min: int | None,
    rate_per_unit: int | None,
    service_code: str | None,
    tax_rate_id: uuid.UUID | None,
) -> Row:
    """How the service is billed; a session-based service has no rate, the others need one."""
    timed = billing_model is not BillingModel.SESSION_BASED
    if timed and (time_unit_min is None or rate_per_unit is None):
        raise Invalid({"rate_per_unit": f"a {billing_model.value} service needs a rate per unit"})
    if not timed and (time_unit_min is not None or rate_per_unit is not None):
        raise Invalid({"rate_per_unit": "a session_based service is billed at its price"})
    await _check_tax_reference(tax_rate_id)
    if await get_service_billing(service_id) is None:
        raise NotFound("service")
    await rows(
        Services.update(
            {
                Services.billing_model: billing_model.value,
                Services.time_unit_min: time_unit_min,
                Services.rate_per_unit: rate_per_unit,
                Services.service_code: service_code,
                Services.tax_rate_id: tax_rate_id,
                Services.updated_at: _now(),
            }
        ).where(Services.id == service_id)
    )
    found = await get_service_billing(service_id)
    assert found is not None
    return found


# --- products ----------------------------------------------------------------------------------


def _currency(code: str, field: str) -> str:
    try:
        return check_currency(code, field)
    except MoneyError as exc:
        raise invalid_money(exc) from None


async def create_product(
    org: uuid.UUID,
    *,
    name: str,
    sku: str | None,
    price_amount: int,
    price_currency: str,
    tax_rate_id: uuid.UUID | None,
    stock: int,
) -> Row:
    _currency(price_currency, "price.currency")
    await _check_tax_reference(tax_rate_id)
    inserted = await rows(
        Products.insert(
            Products(
                organization_id=org,
                name=name,
                sku=sku,
                price_amount=price_amount,
                price_currency=price_currency,
                tax_rate_id=tax_rate_id,
                stock=stock,
            )
        ).returning(*Products.all_columns())
    )
    return inserted[0]


async def get_product(product_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    query = Products.select().where(Products.id == product_id)
    if lock:
        query = query.lock_rows("NO KEY UPDATE")
    return await first(query.first())


async def list_products(limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[Row]:
    query = Products.select()
    if after is not None:
        query = query.where(
            (Products.created_at > after[0])
            | ((Products.created_at == after[0]) & (Products.id > after[1]))
        )
    return await rows(query.order_by(Products.created_at).order_by(Products.id).limit(limit))


async def update_product(product_id: uuid.UUID, changes: Mapping[str, Any]) -> Row:
    """Name, sku, price, tax, stock count, active: any of them."""
    if "price_currency" in changes:
        _currency(changes["price_currency"], "price.currency")
    if "tax_rate_id" in changes:
        await _check_tax_reference(changes["tax_rate_id"])
    values: dict[Any, Any] = {getattr(Products, k): v for k, v in changes.items()}
    values[Products.updated_at] = _now()
    updated = await rows(
        Products.update(values).where(Products.id == product_id).returning(*Products.all_columns())
    )
    if not updated:
        raise NotFound("product")
    return updated[0]


async def take_stock(conn: asyncpg.Connection, product_id: uuid.UUID, quantity: int) -> bool:
    """Take `quantity` items out of stock, atomically; False when fewer are left (nothing
    taken). The row lock of the UPDATE orders two sales of the last item."""
    taken = await conn.fetchval(
        "UPDATE products SET stock = stock - $2, updated_at = now() "
        "WHERE id = $1 AND stock >= $2 RETURNING id",
        product_id,
        quantity,
    )
    return taken is not None


async def return_stock(conn: asyncpg.Connection, product_id: uuid.UUID, quantity: int) -> None:
    await conn.execute(
        "UPDATE products SET stock = stock + $2, updated_at = now() WHERE id = $1",
        product_id,
        quantity,
    )


# --- service plans -----------------------------------------------------------------------------


async def _plan_parts(plan: Row) -> Row:
    services = await rows(
        ServicePlanServices.select(ServicePlanServices.service_id).where(
            ServicePlanServices.service_plan_id == plan["id"]
        )
    )
    products = await rows(
        ServicePlanProducts.select(
            ServicePlanProducts.product_id, ServicePlanProducts.quantity
        ).where(ServicePlanProducts.service_plan_id == plan["id"])
    )
    return {
        **plan,
        "service_ids": sorted((r["service_id"] for r in services), key=str),
        "products": sorted(products, key=lambda r: str(r["product_id"])),
    }


async def _check_services(service_ids: Sequence[uuid.UUID], currency: str) -> None:
    for index, service_id in enumerate(service_ids):
        found = await get_service_billing(service_id)
        if found is None:
            raise Invalid({f"service_ids[{index}]": "is not a service of this clinic"})


async def create_service_plan(
    org: uuid.UUID,
    *,
    name: str,
    sessions: int,
    validity_days: int,
    price_amount: int,
    price_currency: str,
    tax_rate_id: uuid.UUID | None,
    grants_telerehab: bool,
    service_ids: Sequence[uuid.UUID],
    products: Sequence[tuple[uuid.UUID, int]],
) -> Row:
    """A plan of `sessions` sessions of the services, valid `validity_days` from purchase, with
    the products bundled (product id, quantity per purchase)."""
    _currency(price_currency, "price.currency")
    await _check_tax_reference(tax_rate_id)
    if len(set(service_ids)) != len(service_ids):
        raise Invalid({"service_ids": "must not repeat a service"})
    await _check_services(service_ids, price_currency)
    if len({p for p, _ in products}) != len(products):
        raise Invalid({"products": "must not repeat a product"})
    for index, (product_id, _) in enumerate(products):
        if await get_product(product_id) is None:
            raise Invalid({f"products[{index}].product_id": "is not a product of this clinic"})
    inserted = await rows(
        ServicePlans.insert(
            ServicePlans(
                organization_id=org,
                name=name,
                sessions=sessions,
                validity_days=validity_days,
                price_amount=price_amount,
                price_currency=price_currency,
                tax_rate_id=tax_rate_id,
                grants_telerehab=grants_telerehab,
            )
        ).returning(*ServicePlans.all_columns())
    )
    plan = inserted[0]
    if service_ids:
        await rows(
            ServicePlanServices.insert(
                *(
                    ServicePlanServices(
                        organization_id=org, service_plan_id=plan["id"], service_id=s
                    )
                    for s in service_ids
                )
            )
        )
    if products:
        await rows(
            ServicePlanProducts.insert(
                *(
                    ServicePlanProducts(
                        organization_id=org, service_plan_id=plan["id"], product_id=p, quantity=q
                    )
                    for p, q in products
                )
            )
        )
    return await _plan_parts(plan)


async def get_service_plan(plan_id: uuid.UUID) -> Row | None:
    plan = await first(ServicePlans.select().where(ServicePlans.id == plan_id).first())
    return None if plan is None else await _plan_parts(plan)


async def list_service_plans(limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[Row]:
    query = ServicePlans.select()
    if after is not None:
        query = query.where(
            (ServicePlans.created_at > after[0])
            | ((ServicePlans.created_at == after[0]) & (ServicePlans.id > after[1]))
        )
    found = await rows(
        query.order_by(ServicePlans.created_at).order_by(ServicePlans.id).limit(limit)
    )
    return [await _plan_parts(p) for p in found]


async def update_service_plan(plan_id: uuid.UUID, changes: Mapping[str, Any]) -> Row:
    """Name, price, tax, validity, sessions, telerehab grant, active. Purchases already made
    keep what they were sold (patient plans copy it)."""
    if "price_currency" in changes:
        _currency(changes["price_currency"], "price.currency")
    if "tax_rate_id" in changes:
        await _check_tax_reference(changes["tax_rate_id"])
    values: dict[Any, Any] = {getattr(ServicePlans, k): v for k, v in changes.items()}
    values[ServicePlans.updated_at] = _now()
    updated = await rows(
        ServicePlans.update(values)
        .where(ServicePlans.id == plan_id)
        .returning(*ServicePlans.all_columns())
    )
    if not updated:
        raise NotFound("service plan")
    return await _plan_parts(updated[0])
