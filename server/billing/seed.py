"""Demo seeder of the billing domain: a VAT rate, the demo service's billing code, a product and
a service plan (one bought by a patient), invoices in several states (a draft, an issued one
unpaid, one paid in full by card, one partly paid in cash), and an insurance claim submitted for
a completed visit.

Runs after the scheduling seeder, inside the seed's platform transaction, with the organization
named on every write. The completed visit is a walk-in of yesterday, moved through the
appointment state machine (check in, start, complete) as the front desk would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from pipelines.billing import BillingModel
from server.seed import DemoSeed, seeder
from storage import audit, billing, claims, payments
from storage.claims import ClaimAction
from storage.scheduling import Action, insert_walk_in, transition_appointment
from storage.tables import Calendars

CODE = "KT-101"


def _admin(demo: DemoSeed) -> uuid.UUID:
    return uuid.UUID(next(u for u in demo.users if u.get("role") == "admin")["user_id"])


@seeder
async def seed_billing(conn: asyncpg.Connection, demo: DemoSeed) -> None:
    if demo.organization_id is None or len(demo.patients) < 3 or not demo.calendars:
        return
    org, admin = uuid.UUID(demo.organization_id), _admin(demo)
    patients = [uuid.UUID(p["id"]) for p in demo.patients]
    calendar = demo.calendars[0]
    [row] = await Calendars.select(Calendars.service_id).where(
        Calendars.id == uuid.UUID(calendar["id"])
    )
    service_id = row["service_id"]

    vat = await billing.create_tax_rate(org, name="VAT 19%", rate_bp=1900)
    await billing.set_service_billing(
        service_id, billing_model=BillingModel.SESSION_BASED, time_unit_min=None,
        rate_per_unit=None, service_code=CODE, tax_rate_id=vat["id"],
    )  # fmt: skip
    service = await billing.get_service_billing(service_id)
    assert service is not None
    currency = service["price_currency"]
    band = await billing.create_product(
        org, name="Resistance band (medium)", sku="BAND-M", price_amount=4_500,
        price_currency=currency, tax_rate_id=vat["id"], stock=25,
    )  # fmt: skip
    plan = await billing.create_service_plan(
        org, name="Knee rehab: 10 sessions", sessions=10, validity_days=90,
        price_amount=150_000, price_currency=currency, tax_rate_id=vat["id"],
        grants_telerehab=True, service_ids=[service_id], products=[(band["id"], 1)],
    )  # fmt: skip
    bought = await billing.purchase_plan(
        conn, org, patient_id=patients[1], service_plan_id=plan["id"], valid_from=None,
        by_user=admin,
    )  # fmt: skip

    # A visit of yesterday, completed: what an appointment line and a claim are made of.
    specialist = uuid.UUID(demo.specialists[0]["id"])
    zone = ZoneInfo(calendar.get("timezone") or "UTC")
    yesterday = datetime.now(zone).date() - timedelta(days=1)
    visit = await insert_walk_in(
        conn, actor=audit.SYSTEM, calendar_id=uuid.UUID(calendar["id"]),
        specialist_id=specialist, patient_id=patients[0],
        starts_at=datetime.combine(yesterday, time(8, 0), zone).astimezone(UTC),
    )  # fmt: skip
    for action in (Action.START, Action.COMPLETE):
        await transition_appointment(conn, actor=audit.SYSTEM, appointment_id=visit.id,
                                     action=action)  # fmt: skip

    async def invoice(patient: uuid.UUID, *specs: billing.LineSpec, issue: bool) -> Any:
        made = await billing.create_invoice(
            org, patient_id=patient, currency=currency, due_on=None, by_user=admin
        )
        for spec in specs:
            await billing.add_line(conn, org, made["id"], spec)
        if issue:
            return await billing.issue_invoice(conn, org, made["id"], by_user=admin)
        return made

    manual = billing.LineSpec(source="manual", description="Posture assessment report",
                              unit_price=12_000, tax_rate_id=vat["id"])  # fmt: skip
    draft = await invoice(patients[2], manual, issue=False)
    unpaid = await invoice(patients[2], manual, issue=True)
    plan_line = billing.LineSpec(source="patient_plan", patient_plan_id=bought["id"])
    paid = await invoice(patients[1], plan_line, issue=True)
    partly = await invoice(
        patients[0], billing.LineSpec(source="appointment", appointment_id=visit.id),
        billing.LineSpec(source="product", product_id=band["id"]), issue=True,
    )  # fmt: skip

    locked = await payments.invoice_for_payment(paid["id"])
    card, _ = await payments.record_payment(
        conn, org, locked, method=payments.Method.CARD, amount=int(locked["total_amount"]),
        currency=currency, reference="POS 4411", received_at=None, by_user=admin,
    )  # fmt: skip
    locked = await payments.invoice_for_payment(partly["id"])
    cash, _ = await payments.record_payment(
        conn, org, locked, method=payments.Method.CASH, amount=5_000, currency=currency,
        reference=None, received_at=None, by_user=admin,
    )  # fmt: skip
    visit_line = next(x for x in partly["lines"] if x["appointment_id"] == visit.id)
    claim = await claims.create_claim(
        org, locked, insurer="Casa Nationala de Asigurari de Sanatate",
        policy_number="CNAS-0042", line_ids=[visit_line["id"]], by_user=admin,
    )  # fmt: skip
    claim, _ = await claims.transition_claim(conn, org, claim, ClaimAction.SUBMIT, by_user=admin)
    demo.extra["billing"] = {
        "tax_rate_id": str(vat["id"]),
        "product_id": str(band["id"]),
        "service_plan_id": str(plan["id"]),
        "patient_plan_id": str(bought["id"]),
        "invoices": {
            "draft": str(draft["id"]), "issued": str(unpaid["id"]), "paid": str(paid["id"]),
            "partially_paid": str(partly["id"]),
        },
        "payments": [str(card["id"]), str(cash["id"])],
        "claim_id": str(claim["id"]),
    }  # fmt: skip
