"""Invoices: drafts and their lines, issue (the gapless number), void, overdue, credit notes,
and the state a payment moves. Every function runs inside `Database.tenant(org)`; the state
machine and the arithmetic are pipelines/billing's.

Every write locks the invoice row first (`_locked`), so two writes of one invoice queue, and
checks the state machine before it changes anything; the database guards of migration
m2026_12_05t02 refuse any change to an issued invoice's content even if a caller forgot.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from pipelines.billing import (
    BillingModel,
    IllegalTransition,
    InvoiceAction,
    InvoiceStatus,
    LineAmounts,
    MoneyError,
    check_currency,
    format_number,
    line_amounts,
    next_status,
    settle_action,
    totals,
    visit_price,
)
from storage.billing._catalog import (
    get_product,
    get_service_billing,
    return_stock,
    take_stock,
    tax_rate_bp,
)
from storage.billing._errors import (
    CurrencyMismatch,
    invalid_money,
    invalid_transition,
    out_of_stock,
)
from storage.billing._plans import get_patient_plan, live_redemption
from storage.errors import Conflict, Invalid, NotFound
from storage.orm import first, rows
from storage.tables import InvoiceLines, Invoices

Row = dict[str, Any]
ENTITY = "invoice"
MAX_LINES = 500
DEFAULT_TERMS_DAYS = 14
# An invoice counts an appointment or a purchased plan once: on any invoice that is not void.
_BILLED = (
    InvoiceStatus.DRAFT,
    InvoiceStatus.ISSUED,
    InvoiceStatus.PAID,
    InvoiceStatus.PARTIALLY_PAID,
    InvoiceStatus.OVERDUE,
)


@dataclass(frozen=True, slots=True)
class LineSpec:
    """A line to add. `source` says which of the ids it names; a manual line gives its own
    description, unit price and VAT (a rate id or basis points)."""

    source: str  # appointment | patient_plan | product | manual
    appointment_id: uuid.UUID | None = None
    patient_plan_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    quantity: int = 1
    description: str | None = None
    unit_price: int | None = None
    tax_rate_id: uuid.UUID | None = None
    tax_rate_bp: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _transition(current: str, action: InvoiceAction) -> InvoiceStatus:
    try:
        return next_status(InvoiceStatus(current), action)
    except IllegalTransition as exc:
        raise invalid_transition(exc) from None


async def get_invoice(invoice_id: uuid.UUID, *, patient_id: uuid.UUID | None = None) -> Row | None:
    """The invoice with its lines, restricted to the patient's own when given."""
    where: Any = Invoices.id == invoice_id
    if patient_id is not None:
        where &= Invoices.patient_id == patient_id
    found = await first(Invoices.select().where(where).first())
    if found is None:
        return None
    return {**found, "lines": await invoice_lines(invoice_id)}


async def invoice_lines(invoice_id: uuid.UUID) -> list[Row]:
    return await rows(
        InvoiceLines.select()
        .where(InvoiceLines.invoice_id == invoice_id)
        .order_by(InvoiceLines.position)
    )


async def _locked(conn: asyncpg.Connection, invoice_id: uuid.UUID) -> Row:
    row = await conn.fetchrow("SELECT * FROM invoices WHERE id = $1 FOR UPDATE", invoice_id)
    if row is None:
        raise NotFound(ENTITY)
    return dict(row.items())


async def list_invoices(
    *,
    patient_id: uuid.UUID | None,
    status: InvoiceStatus | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Row]:
    """Invoices oldest first, after the (created_at, id) keyset; of one patient, in one
    status, when given. Without their lines."""
    where: Any = Invoices.id.is_not_null()
    if patient_id is not None:
        where &= Invoices.patient_id == patient_id
    if status is not None:
        where &= Invoices.status == status.value
    if after is not None:
        where &= (Invoices.created_at > after[0]) | (
            (Invoices.created_at == after[0]) & (Invoices.id > after[1])
        )
    return await rows(
        Invoices.select().where(where).order_by(Invoices.created_at).order_by(Invoices.id)
        .limit(limit)
    )  # fmt: skip


async def create_invoice(
    org: uuid.UUID,
    *,
    patient_id: uuid.UUID,
    currency: str,
    due_on: date | None,
    by_user: uuid.UUID | None,
) -> Row:
    """An empty draft in `currency` for the patient (the caller checked it is visible)."""
    try:
        check_currency(currency)
    except MoneyError as exc:
        raise invalid_money(exc) from None
    inserted = await rows(
        Invoices.insert(
            Invoices(
                organization_id=org,
                patient_id=patient_id,
                currency=currency,
                due_on=due_on,
                created_by=by_user,
            )
        ).returning(*Invoices.all_columns())
    )
    return {**inserted[0], "lines": []}


async def _already_billed(column: Any, value: uuid.UUID, field: str) -> None:
    found = await first(
        InvoiceLines.select(InvoiceLines.invoice_id)
        .where(
            (column == value)
            & InvoiceLines.invoice_id.is_in(
                Invoices.select(Invoices.id).where(
                    Invoices.status.is_in([s.value for s in _BILLED]) & (Invoices.kind == "invoice")
                )
            )
        )
        .first()
    )
    if found is not None:
        raise Conflict(
            "already on an invoice",
            {"field": field, "invoice_id": found["invoice_id"]},
            code="already_invoiced",
        )


def _same_currency(invoice: Row, currency: str, field: str) -> None:
    if currency != invoice["currency"]:
        raise CurrencyMismatch(field, invoice["currency"], currency)


async def _line_values(conn: asyncpg.Connection, invoice: Row, spec: LineSpec) -> dict[str, Any]:
    """What the line bills: its description, quantity, unit price, VAT and references."""
    if spec.source == "appointment":
        if spec.appointment_id is None:
            raise Invalid({"appointment_id": "is required for an appointment line"})
        appt = await conn.fetchrow(
            "SELECT id, patient_id, service_id, status, starts_at, ends_at FROM appointments "
            "WHERE id = $1",
            spec.appointment_id,
        )
        if appt is None or appt["patient_id"] != invoice["patient_id"]:
            raise Invalid({"appointment_id": "is not an appointment of the invoice's patient"})
        if appt["status"] != "completed":
            raise Invalid({"appointment_id": f"is {appt['status']}, not completed"})
        if await live_redemption(spec.appointment_id) is not None:
            raise Conflict(
                "the appointment was covered by the patient's plan",
                {"appointment_id": spec.appointment_id},
                code="covered_by_plan",
            )
        await _already_billed(InvoiceLines.appointment_id, spec.appointment_id, "appointment_id")
        service = await get_service_billing(appt["service_id"])
        if service is None:
            raise Invalid({"appointment_id": "its service was deleted"})
        _same_currency(invoice, service["price_currency"], "appointment_id")
        minutes = int((appt["ends_at"] - appt["starts_at"]).total_seconds() // 60)
        quantity, unit_price = visit_price(
            BillingModel(service["billing_model"]),
            price=service["price_amount"],
            duration_min=minutes,
            unit_min=service["time_unit_min"],
            rate=service["rate_per_unit"],
        )
        day = appt["starts_at"].date().isoformat()
        return {
            "appointment_id": appt["id"],
            "service_id": service["id"],
            "service_code": service["service_code"],
            "description": f"{service['name']} ({day})"[:500],
            "quantity": quantity,
            "unit_price": unit_price,
            "tax_rate_bp": await tax_rate_bp(service["tax_rate_id"], "appointment_id"),
        }
    if spec.source == "patient_plan":
        if spec.patient_plan_id is None:
            raise Invalid({"patient_plan_id": "is required for a plan line"})
        plan = await get_patient_plan(spec.patient_plan_id, patient_id=invoice["patient_id"])
        if plan is None:
            raise Invalid({"patient_plan_id": "is not a plan of the invoice's patient"})
        await _already_billed(InvoiceLines.patient_plan_id, plan["id"], "patient_plan_id")
        _same_currency(invoice, plan["price_currency"], "patient_plan_id")
        name = await conn.fetchval(
            "SELECT name FROM service_plans WHERE id = $1", plan["service_plan_id"]
        )
        return {
            "patient_plan_id": plan["id"],
            "description": f"{name} ({plan['sessions_total']} sessions)"[:500],
            "quantity": 1,
            "unit_price": plan["price_amount"],
            "tax_rate_bp": plan["tax_rate_bp"],
        }
    if spec.source == "product":
        if spec.product_id is None:
            raise Invalid({"product_id": "is required for a product line"})
        product = await get_product(spec.product_id)
        if product is None or not product["active"]:
            raise Invalid({"product_id": "is not an active product of this clinic"})
        _same_currency(invoice, product["price_currency"], "product_id")
        return {
            "product_id": product["id"],
            "description": product["name"],
            "quantity": spec.quantity,
            "unit_price": product["price_amount"],
            "tax_rate_bp": await tax_rate_bp(product["tax_rate_id"], "product_id"),
        }
    if spec.source == "manual":
        if not spec.description or spec.unit_price is None:
            raise Invalid({"description": "a manual line needs a description and a unit_price"})
        if spec.tax_rate_id is not None and spec.tax_rate_bp is not None:
            raise Invalid({"tax_rate_bp": "give a tax_rate_id or tax_rate_bp, not both"})
        rate = spec.tax_rate_bp
        if rate is None:
            rate = await tax_rate_bp(spec.tax_rate_id)
        return {
            "description": spec.description,
            "quantity": spec.quantity,
            "unit_price": spec.unit_price,
            "tax_rate_bp": rate,
        }
    raise Invalid({"source": "must be appointment, patient_plan, product or manual"})


async def _write_totals(invoice_id: uuid.UUID) -> Row:
    lines = await invoice_lines(invoice_id)
    sums = totals(LineAmounts(r["net_amount"], r["tax_amount"], r["gross_amount"]) for r in lines)
    updated = await rows(
        Invoices.update(
            {
                Invoices.subtotal_amount: sums.subtotal,
                Invoices.tax_amount: sums.tax,
                Invoices.total_amount: sums.total,
                Invoices.updated_at: _now(),
            }
        )
        .where(Invoices.id == invoice_id)
        .returning(*Invoices.all_columns())
    )
    return {**updated[0], "lines": lines}


def _require_draft(invoice: Row, action: str) -> None:
    if invoice["status"] != InvoiceStatus.DRAFT.value:
        raise Conflict(
            f"cannot {action} an invoice that is {invoice['status']}: issued invoices are "
            "immutable (correct one with a credit note)",
            {"status": invoice["status"]},
            code="invoice_immutable",
        )


async def add_line(
    conn: asyncpg.Connection, org: uuid.UUID, invoice_id: uuid.UUID, spec: LineSpec
) -> Row:
    """Add a line to a draft; the invoice with its new totals. A product line takes its items
    out of stock (409 `out_of_stock`); a line in another currency is 422 `currency_mismatch`."""
    invoice = await _locked(conn, invoice_id)
    _require_draft(invoice, "add a line to")
    if invoice["kind"] != "invoice":
        raise Conflict("a credit note's lines are those it credits", code="invoice_immutable")
    values = await _line_values(conn, invoice, spec)
    try:
        amounts = line_amounts(values["quantity"], values["unit_price"], values["tax_rate_bp"])
    except MoneyError as exc:
        raise invalid_money(exc) from None
    count = await conn.fetchval(
        "SELECT count(*) FROM invoice_lines WHERE invoice_id = $1", invoice_id
    )
    if count >= MAX_LINES:
        raise Invalid({"lines": f"an invoice has at most {MAX_LINES} lines"})
    position = (
        await conn.fetchval(
            "SELECT coalesce(max(position), 0) FROM invoice_lines WHERE invoice_id = $1",
            invoice_id,
        )
        + 1
    )
    if spec.source == "product":
        assert spec.product_id is not None
        if not await take_stock(conn, spec.product_id, values["quantity"]):
            product = await get_product(spec.product_id)
            stock = -1 if product is None else product["stock"]
            raise out_of_stock(spec.product_id, stock, values["quantity"])
    await rows(
        InvoiceLines.insert(
            InvoiceLines(
                organization_id=org,
                invoice_id=invoice_id,
                position=position,
                source=spec.source,
                appointment_id=values.get("appointment_id"),
                patient_plan_id=values.get("patient_plan_id"),
                product_id=values.get("product_id"),
                service_id=values.get("service_id"),
                service_code=values.get("service_code"),
                description=values["description"],
                quantity=values["quantity"],
                unit_price=values["unit_price"],
                tax_rate_bp=values["tax_rate_bp"],
                net_amount=amounts.net,
                tax_amount=amounts.tax,
                gross_amount=amounts.gross,
            )
        )
    )
    return await _write_totals(invoice_id)


async def remove_line(conn: asyncpg.Connection, invoice_id: uuid.UUID, line_id: uuid.UUID) -> Row:
    """Remove a draft's line (a product's items go back to stock)."""
    invoice = await _locked(conn, invoice_id)
    _require_draft(invoice, "remove a line from")
    if invoice["kind"] != "invoice":
        raise Conflict("a credit note's lines are those it credits", code="invoice_immutable")
    removed = await rows(
        InvoiceLines.delete()
        .where((InvoiceLines.id == line_id) & (InvoiceLines.invoice_id == invoice_id))
        .returning(InvoiceLines.product_id, InvoiceLines.quantity)
    )
    if not removed:
        raise NotFound("invoice line")
    if removed[0]["product_id"] is not None:
        await return_stock(conn, removed[0]["product_id"], removed[0]["quantity"])
    return await _write_totals(invoice_id)


async def _next_number(conn: asyncpg.Connection, org: uuid.UUID, year: int) -> int:
    """The series' next number. The counter row stays locked (by this UPDATE) until the
    issuing transaction ends: concurrent issues queue here, and a rollback returns the number
    (the series stays gapless)."""
    number: int = await conn.fetchval(
        """INSERT INTO invoice_series (organization_id, year, last_number) VALUES ($1, $2, 1)
           ON CONFLICT (organization_id, year)
           DO UPDATE SET last_number = invoice_series.last_number + 1
           RETURNING last_number""",
        org,
        year,
    )
    return number


async def issue_invoice(
    conn: asyncpg.Connection,
    org: uuid.UUID,
    invoice_id: uuid.UUID,
    *,
    by_user: uuid.UUID | None,
    terms_days: int = DEFAULT_TERMS_DAYS,
) -> Row:
    """draft -> issued: the next number of the clinic's series for this year, the issue time,
    the due date (the draft's, else `terms_days` from today). An empty invoice is refused."""
    invoice = await _locked(conn, invoice_id)
    status = _transition(invoice["status"], InvoiceAction.ISSUE)
    lines = await invoice_lines(invoice_id)
    if not lines:
        raise Invalid({"lines": "an invoice needs at least one line to be issued"})
    now = _now()
    year = now.year
    number = await _next_number(conn, org, year)
    due_on = invoice["due_on"] or (now.date() + timedelta(days=terms_days))
    updated = await rows(
        Invoices.update(
            {
                Invoices.status: status.value,
                Invoices.series_year: year,
                Invoices.series_number: number,
                Invoices.number: format_number(year, number),
                Invoices.issued_at: now,
                Invoices.issued_by: by_user,
                Invoices.due_on: due_on,
                Invoices.updated_at: now,
            }
        )
        .where(Invoices.id == invoice_id)
        .returning(*Invoices.all_columns())
    )
    return {**updated[0], "lines": lines}


async def void_invoice(conn: asyncpg.Connection, invoice_id: uuid.UUID) -> Row:
    """-> void: a draft discarded (unnumbered), or an issued or overdue invoice with nothing
    paid (it keeps its number: the series has no gap). A draft's product items return to
    stock; an issued invoice's were handed over."""
    invoice = await _locked(conn, invoice_id)
    status = _transition(invoice["status"], InvoiceAction.VOID)
    if invoice["amount_paid"] != 0:
        raise Conflict(
            "an invoice with payments cannot be voided: refund them first, or issue a credit note",
            {"amount_paid": invoice["amount_paid"]},
            code="invoice_paid",
        )
    if invoice["status"] == InvoiceStatus.DRAFT.value:
        for line in await invoice_lines(invoice_id):
            if line["product_id"] is not None:
                await return_stock(conn, line["product_id"], line["quantity"])
    now = _now()
    updated = await rows(
        Invoices.update(
            {Invoices.status: status.value, Invoices.voided_at: now, Invoices.updated_at: now}
        )
        .where(Invoices.id == invoice_id)
        .returning(*Invoices.all_columns())
    )
    return {**updated[0], "lines": await invoice_lines(invoice_id)}


async def mark_overdue(conn: asyncpg.Connection, invoice_id: uuid.UUID, today: date) -> Row:
    """issued | partially_paid -> overdue, once the due date has passed (409 `not_due`)."""
    invoice = await _locked(conn, invoice_id)
    status = _transition(invoice["status"], InvoiceAction.MARK_OVERDUE)
    if invoice["due_on"] is None or invoice["due_on"] >= today:
        raise Conflict(
            "the invoice is not past its due date", {"due_on": invoice["due_on"]}, code="not_due"
        )
    updated = await rows(
        Invoices.update({Invoices.status: status.value, Invoices.updated_at: _now()})
        .where(Invoices.id == invoice_id)
        .returning(*Invoices.all_columns())
    )
    return {**updated[0], "lines": await invoice_lines(invoice_id)}


async def apply_payment_state(
    conn: asyncpg.Connection,
    organization_id: uuid.UUID,
    invoice_id: uuid.UUID,
    *,
    amount_paid: int,
) -> Row:
    """Record the invoice's amount paid (the net of its payments and refunds, in its currency
    and minor units, computed by the caller in the same transaction) and move its state with
    it: paid in full (over-payment included) -> paid; in part -> partially_paid (an overdue
    invoice stays overdue); nothing -> issued (overdue stays overdue).

    For the payments feature, in the transaction that writes the payment. Raises NotFound for
    an invoice not of this organization, InvalidTransition (409) for a draft, a void invoice
    or a credit note (nothing is paid against those), Invalid for a negative amount."""
    if amount_paid < 0:
        raise Invalid({"amount_paid": "must not be negative"})
    invoice = await _locked(conn, invoice_id)
    if invoice["organization_id"] != organization_id:
        raise NotFound(ENTITY)
    action = settle_action(invoice["total_amount"], amount_paid)
    if invoice["kind"] != "invoice":
        raise Conflict(
            "a credit note is not paid against", {"kind": invoice["kind"]},
            code="invalid_transition",
        )  # fmt: skip
    status = _transition(invoice["status"], action)
    updated = await rows(
        Invoices.update(
            {
                Invoices.status: status.value,
                Invoices.amount_paid: amount_paid,
                Invoices.updated_at: _now(),
            }
        )
        .where(Invoices.id == invoice_id)
        .returning(*Invoices.all_columns())
    )
    return {**updated[0], "lines": await invoice_lines(invoice_id)}


async def credited_so_far(invoice_id: uuid.UUID) -> int:
    found = await rows(
        Invoices.select(Invoices.total_amount).where(
            (Invoices.credited_invoice_id == invoice_id) & (Invoices.status != "void")
        )
    )
    return sum(r["total_amount"] for r in found)


async def create_credit_note(
    conn: asyncpg.Connection,
    org: uuid.UUID,
    invoice_id: uuid.UUID,
    *,
    line_ids: list[uuid.UUID] | None,
    by_user: uuid.UUID | None,
) -> Row:
    """A draft credit note for an issued invoice: a copy of its lines (all, or those named),
    same currency and patient; issued like any invoice, it takes the next number. What the
    credit notes of one invoice credit together never exceeds its total (409
    `over_credited`). The original is not changed."""
    original = await _locked(conn, invoice_id)
    if original["kind"] != "invoice" or original["status"] in (
        InvoiceStatus.DRAFT.value,
        InvoiceStatus.VOID.value,
    ):
        raise Conflict(
            "only an issued invoice can be credited",
            {"status": original["status"], "kind": original["kind"]},
            code="invalid_transition",
        )
    lines = await invoice_lines(invoice_id)
    if line_ids is not None:
        wanted = set(line_ids)
        picked = [line for line in lines if line["id"] in wanted]
        if len(picked) != len(wanted):
            raise Invalid({"line_ids": "names a line that is not on this invoice"})
        lines = picked
    sums = totals(LineAmounts(r["net_amount"], r["tax_amount"], r["gross_amount"]) for r in lines)
    if sums.total + await credited_so_far(invoice_id) > original["total_amount"]:
        raise Conflict(
            "the credit notes would credit more than the invoice's total",
            {"total_amount": original["total_amount"]},
            code="over_credited",
        )
    inserted = await rows(
        Invoices.insert(
            Invoices(
                organization_id=org,
                patient_id=original["patient_id"],
                kind="credit_note",
                credited_invoice_id=invoice_id,
                currency=original["currency"],
                created_by=by_user,
            )
        ).returning(Invoices.id)
    )
    note_id = inserted[0]["id"]
    if lines:
        await rows(
            InvoiceLines.insert(
                *(
                    InvoiceLines(
                        organization_id=org,
                        invoice_id=note_id,
                        position=index,
                        source=line["source"],
                        appointment_id=line["appointment_id"],
                        patient_plan_id=line["patient_plan_id"],
                        product_id=line["product_id"],
                        service_id=line["service_id"],
                        service_code=line["service_code"],
                        description=line["description"],
                        quantity=line["quantity"],
                        unit_price=line["unit_price"],
                        tax_rate_bp=line["tax_rate_bp"],
                        net_amount=line["net_amount"],
                        tax_amount=line["tax_amount"],
                        gross_amount=line["gross_amount"],
                    )
                    for index, line in enumerate(lines, start=1)
                )
            )
        )
    return await _write_totals(note_id)
