"""A patient's purchased plans and their redemptions. A completed appointment takes a session
of the plan that covers it in the same transaction as its status change (the trigger of
migration m2026_12_05t01); these functions sell, read and cancel plans. Every function runs
inside `Database.tenant(org)`."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from storage.billing._catalog import get_service_plan, take_stock, tax_rate_bp
from storage.billing._errors import out_of_stock
from storage.errors import Conflict, Invalid, NotFound
from storage.orm import first, rows
from storage.tables import PatientPlans, PatientPlanServices, PlanRedemptions

Row = dict[str, Any]


async def _with_services(plan: Row) -> Row:
    services = await rows(
        PatientPlanServices.select(PatientPlanServices.service_id).where(
            PatientPlanServices.patient_plan_id == plan["id"]
        )
    )
    return {
        **plan,
        "sessions_remaining": plan["sessions_total"] - plan["sessions_used"],
        "service_ids": sorted((r["service_id"] for r in services), key=str),
    }


async def purchase_plan(
    conn: asyncpg.Connection,
    org: uuid.UUID,
    *,
    patient_id: uuid.UUID,
    service_plan_id: uuid.UUID,
    valid_from: datetime | None,
    by_user: uuid.UUID | None,
) -> Row:
    """The patient's copy of the plan (sessions, covered services, price and VAT as sold
    today), valid from `valid_from` (default now) for the plan's validity. Its bundled products
    leave stock here (409 `out_of_stock`, nothing sold, when one runs short). The caller checked
    the patient is visible."""
    plan = await get_service_plan(service_plan_id)
    if plan is None or not plan["active"]:
        raise Invalid({"service_plan_id": "is not an active plan of this clinic"})
    rate = await tax_rate_bp(plan["tax_rate_id"], "service_plan_id")
    for part in plan["products"]:
        if not await take_stock(conn, part["product_id"], part["quantity"]):
            raise out_of_stock(part["product_id"], -1, part["quantity"])
    start = valid_from or datetime.now(UTC)
    inserted = await rows(
        PatientPlans.insert(
            PatientPlans(
                organization_id=org,
                patient_id=patient_id,
                service_plan_id=service_plan_id,
                sessions_total=plan["sessions"],
                sessions_used=0,
                valid_from=start,
                valid_until=start + timedelta(days=plan["validity_days"]),
                grants_telerehab=plan["grants_telerehab"],
                price_amount=plan["price_amount"],
                price_currency=plan["price_currency"],
                tax_rate_bp=rate,
                purchased_by=by_user,
            )
        ).returning(*PatientPlans.all_columns())
    )
    bought = inserted[0]
    if plan["service_ids"]:
        await rows(
            PatientPlanServices.insert(
                *(
                    PatientPlanServices(
                        organization_id=org, patient_plan_id=bought["id"], service_id=s
                    )
                    for s in plan["service_ids"]
                )
            )
        )
    return await _with_services(bought)


async def get_patient_plan(
    patient_plan_id: uuid.UUID, *, patient_id: uuid.UUID | None = None, lock: bool = False
) -> Row | None:
    """The purchased plan, restricted to the patient's own when given."""
    where: Any = PatientPlans.id == patient_plan_id
    if patient_id is not None:
        where &= PatientPlans.patient_id == patient_id
    query = PatientPlans.select().where(where)
    if lock:
        query = query.lock_rows("NO KEY UPDATE")
    found = await first(query.first())
    return None if found is None else await _with_services(found)


# One round trip: the clinic's setting and the patient's plans, read in the caller's tenant
# transaction (app_org_id()).
_TELEREHAB_GRANTED = """
SELECT NOT o.telerehab_requires_plan OR EXISTS (
  SELECT 1 FROM patient_plans p
  WHERE p.organization_id = o.id AND p.patient_id = $1 AND p.grants_telerehab
    AND p.status = 'active' AND p.valid_from <= $2 AND $2 < p.valid_until)
FROM organizations o WHERE o.id = app_org_id()
"""


async def telerehab_granted(conn: asyncpg.Connection, patient_id: uuid.UUID, at: datetime) -> bool:
    """May the patient run a guided telerehab session at `at`? Always, unless the clinic sells
    telerehab by plan; then only while an active plan granting it is valid."""
    return bool(await conn.fetchval(_TELEREHAB_GRANTED, patient_id, at))


async def list_patient_plans(patient_id: uuid.UUID) -> list[Row]:
    found = await rows(
        PatientPlans.select()
        .where(PatientPlans.patient_id == patient_id)
        .order_by(PatientPlans.valid_until)
        .order_by(PatientPlans.id)
    )
    return [await _with_services(p) for p in found]


async def cancel_patient_plan(patient_plan_id: uuid.UUID) -> Row:
    """No more sessions are taken from it; sessions used stay used."""
    plan = await get_patient_plan(patient_plan_id, lock=True)
    if plan is None:
        raise NotFound("patient plan")
    if plan["status"] != "active":
        raise Conflict("the plan is already cancelled", {"status": plan["status"]})
    updated = await rows(
        PatientPlans.update(
            {PatientPlans.status: "cancelled", PatientPlans.updated_at: datetime.now(UTC)}
        )
        .where(PatientPlans.id == patient_plan_id)
        .returning(*PatientPlans.all_columns())
    )
    return await _with_services(updated[0])


async def plan_redemptions(patient_plan_id: uuid.UUID) -> list[Row]:
    """Every session taken from the plan, restored ones included, oldest first."""
    return await rows(
        PlanRedemptions.select()
        .where(PlanRedemptions.patient_plan_id == patient_plan_id)
        .order_by(PlanRedemptions.redeemed_at)
        .order_by(PlanRedemptions.id)
    )


async def live_redemption(appointment_id: uuid.UUID) -> Row | None:
    """The plan session an appointment took, if it took one (and was not restored)."""
    return await first(
        PlanRedemptions.select()
        .where(
            (PlanRedemptions.appointment_id == appointment_id)
            & PlanRedemptions.restored_at.is_null()
        )
        .first()
    )
