"""Payments and refunds of invoices (see the package's docstring)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from storage.billing import CurrencyMismatch
from storage.errors import Conflict, Invalid, NotFound
from storage.orm import first, rows
from storage.payments._invoice import lock_invoice, settle
from storage.payments._settlement import check_payable, check_refundable
from storage.tables import Payments

Row = dict[str, Any]
MAX_AMOUNT = 100_000_000_000  # minor units; the column's CHECK says the same
MAX_REFERENCE = 200


class Method(StrEnum):
    CASH = "cash"
    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    INSURER = "insurer"


def check_amount(amount: object, field: str = "amount") -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise Invalid({field: f"must be an integer of minor units, 1..{MAX_AMOUNT}"})
    return amount


def check_currency(invoice: Row, currency: str) -> None:
    """A payment is in the invoice's currency; another one is refused, as on invoice lines
    (422 `currency_mismatch`: nothing is converted)."""
    if currency != invoice["currency"]:
        raise CurrencyMismatch("currency", invoice["currency"], currency)


async def invoice_for_payment(invoice_id: uuid.UUID) -> Row:
    """The invoice, locked; NotFound when not in this organization."""
    invoice = await lock_invoice(invoice_id)
    if invoice is None:
        raise NotFound("invoice")
    return invoice


async def record_payment(
    conn: asyncpg.Connection,
    org: uuid.UUID,
    invoice: Row,
    *,
    method: Method,
    amount: int,
    currency: str,
    reference: str | None,
    received_at: datetime | None,
    by_user: uuid.UUID | None,
    intent_id: uuid.UUID | None = None,
    allow_paid: bool = False,
) -> tuple[Row, Row]:
    """A payment of the invoice (read with `invoice_for_payment` in this transaction): the
    payment and the invoice after it. 409 when the invoice takes no payment (draft, paid,
    void, a credit note), 422 when in another currency; an amount past the balance is accepted
    (an over-payment: the balance goes negative). `allow_paid`: a provider's callback, whose
    money arrived whatever the invoice's state says, may land on a paid invoice too."""
    if invoice["kind"] != "invoice":
        raise Conflict(
            "a credit note is paid out, not paid", {"kind": invoice["kind"]}, code="not_payable"
        )
    if not (allow_paid and invoice["status"] == "paid"):
        check_payable(invoice["status"])
    check_currency(invoice, currency)
    check_amount(amount)
    values: dict[str, Any] = dict(
        id=uuid.uuid4(),
        organization_id=org,
        invoice_id=invoice["id"],
        kind="payment",
        method=method.value,
        amount=amount,
        currency=currency,
        reference=reference,
        intent_id=intent_id,
        recorded_by=by_user,
    )
    if received_at is not None:
        values["received_at"] = received_at
    payment = (await rows(Payments.insert(Payments(**values)).returning(*Payments.all_columns())))[
        0
    ]
    return payment, await settle(conn, org, invoice, amount)


async def refund_payment(
    conn: asyncpg.Connection,
    org: uuid.UUID,
    invoice: Row,
    payment_id: uuid.UUID,
    *,
    amount: int,
    reference: str | None,
    by_user: uuid.UUID | None,
) -> tuple[Row, Row]:
    """Give back `amount` of a payment of the invoice (locked): the refund row and the invoice
    after it. The payment's refunds never exceed it (409 `refund_exceeds_payment`); the
    invoice's lock serializes refunds of its payments, so the sum read here stays true."""
    check_refundable(invoice["status"])
    check_amount(amount)
    payment = await first(
        Payments.select()
        .where((Payments.id == payment_id) & (Payments.invoice_id == invoice["id"]))
        .first()
    )
    if payment is None or payment["kind"] != "payment":
        raise NotFound("payment")
    refunded = await refunded_of(payment_id)
    if refunded + amount > int(payment["amount"]):
        raise Conflict(
            "a refund cannot give back more than its payment",
            {"payment": int(payment["amount"]), "refunded": refunded, "amount": amount},
            code="refund_exceeds_payment",
        )
    refund = (
        await rows(
            Payments.insert(
                Payments(
                    id=uuid.uuid4(),
                    organization_id=org,
                    invoice_id=invoice["id"],
                    kind="refund",
                    refund_of=payment_id,
                    method=payment["method"],
                    amount=amount,
                    currency=payment["currency"],
                    reference=reference,
                    recorded_by=by_user,
                )
            ).returning(*Payments.all_columns())
        )
    )[0]
    return refund, await settle(conn, org, invoice, -amount)


async def refunded_of(payment_id: uuid.UUID) -> int:
    found = await rows(
        Payments.select(Payments.amount).where(
            (Payments.refund_of == payment_id) & (Payments.kind == "refund")
        )
    )
    return sum(int(r["amount"]) for r in found)


async def get_payment(payment_id: uuid.UUID) -> Row | None:
    return await first(Payments.select().where(Payments.id == payment_id).first())


async def list_payments(invoice_id: uuid.UUID) -> list[Row]:
    """The invoice's payments and refunds, oldest first."""
    return await rows(
        Payments.select()
        .where(Payments.invoice_id == invoice_id)
        .order_by(Payments.received_at)
        .order_by(Payments.id)
    )
