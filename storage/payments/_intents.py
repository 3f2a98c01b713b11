"""Payment intents at a provider, and the provider's callbacks (see the package's docstring)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from storage.errors import Conflict, InvalidTransition, NotFound
from storage.orm import first, rows
from storage.payments._providers import PROVIDERS, EventType, ProviderEvent, ProviderName
from storage.payments._repository import (
    Method,
    check_amount,
    check_currency,
    invoice_for_payment,
    record_payment,
)
from storage.payments._settlement import PAYABLE, check_payable
from storage.tables import PaymentIntents, PaymentWebhookReceipts

Row = dict[str, Any]
OPEN = "requires_action"


async def create_intent(
    org: uuid.UUID,
    invoice: Row,
    provider: ProviderName,
    *,
    amount: int,
    currency: str,
    by_user: uuid.UUID | None,
) -> Row:
    """An intent to pay `amount` of the (locked) invoice at `provider`."""
    check_payable(invoice["status"])
    check_currency(invoice, currency)
    check_amount(amount)
    return (
        await rows(
            PaymentIntents.insert(
                PaymentIntents(
                    id=uuid.uuid4(),
                    organization_id=org,
                    invoice_id=invoice["id"],
                    provider=provider.value,
                    provider_reference=PROVIDERS[provider].new_reference(),
                    amount=amount,
                    currency=currency,
                    status=OPEN,
                    created_by=by_user,
                )
            ).returning(*PaymentIntents.all_columns())
        )
    )[0]


async def get_intent(intent_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    query = PaymentIntents.select().where(PaymentIntents.id == intent_id)
    if lock:
        query = query.lock_rows("NO KEY UPDATE")
    return await first(query.first())


async def _move(intent: Row, status: str, reason: str | None = None) -> Row:
    return (
        await rows(
            PaymentIntents.update(
                {
                    PaymentIntents.status: status,
                    PaymentIntents.failure_reason: reason,
                    PaymentIntents.updated_at: datetime.now(UTC),
                }
            )
            .where(PaymentIntents.id == intent["id"])
            .returning(*PaymentIntents.all_columns())
        )
    )[0]


def _open(intent: Row, action: str) -> None:
    if intent["status"] != OPEN:
        raise InvalidTransition("payment intent", intent["status"], action, [])


async def _locked_pair(intent_id: uuid.UUID) -> tuple[Row, Row]:
    """The invoice, then the intent, locked in that order (every writer of both locks them
    so: no deadlock between a confirmation and a callback)."""
    found = await get_intent(intent_id)
    if found is None:
        raise NotFound("payment intent")
    invoice = await invoice_for_payment(found["invoice_id"])
    intent = await get_intent(intent_id, lock=True)
    assert intent is not None
    return invoice, intent


async def confirm_manual(
    conn: asyncpg.Connection,
    org: uuid.UUID,
    intent_id: uuid.UUID,
    *,
    method: Method,
    by_user: uuid.UUID | None,
) -> tuple[Row, Row, Row]:
    """The front desk confirms a manual intent: (intent, payment, invoice)."""
    invoice, intent = await _locked_pair(intent_id)
    if intent["provider"] != ProviderName.MANUAL.value:
        raise Conflict(
            "this provider confirms its intents by webhook",
            {"provider": intent["provider"]},
            code="confirmed_by_provider",
        )
    _open(intent, "confirm")
    payment, invoice = await record_payment(
        conn,
        org, invoice, method=method, amount=int(intent["amount"]), currency=intent["currency"],
        reference=intent["provider_reference"], received_at=None, by_user=by_user,
        intent_id=intent["id"],
    )  # fmt: skip
    return await _move(intent, "succeeded"), payment, invoice


async def cancel_intent(intent_id: uuid.UUID) -> Row:
    _, intent = await _locked_pair(intent_id)
    _open(intent, "cancel")
    return await _move(intent, "cancelled")


async def apply_event(
    conn: asyncpg.Connection, org: uuid.UUID, provider: ProviderName, event: ProviderEvent
) -> str:
    """Apply a verified provider callback, once per webhook id: `duplicate` for a delivery
    seen before (nothing done), `ignored` for an intent already final, `unknown` for a
    reference that names no intent here, else `applied`.

    Money the provider took is recorded even when the invoice was paid meanwhile (an
    over-payment, refunded from the front desk); for an invoice no longer payable at all
    (void), the intent fails with the reason, to be refunded at the provider."""
    receipt = await rows(
        PaymentWebhookReceipts.insert(
            PaymentWebhookReceipts(
                organization_id=org,
                provider=provider.value,
                webhook_id=event.webhook_id,
                event_type=event.type.value,
            )
        )
        .on_conflict(action="DO NOTHING")
        .returning(PaymentWebhookReceipts.webhook_id)
    )
    if not receipt:
        return "duplicate"
    found = await first(
        PaymentIntents.select(PaymentIntents.id)
        .where(
            (PaymentIntents.provider == provider.value)
            & (PaymentIntents.provider_reference == event.reference)
        )
        .first()
    )
    if found is None:
        return "unknown"
    invoice, intent = await _locked_pair(found["id"])
    if intent["status"] != OPEN:
        return "ignored"
    if event.type is EventType.FAILED:
        await _move(intent, "failed", (event.failure_reason or "declined")[:200])
        return "applied"
    if event.amount != int(intent["amount"]) or event.currency != intent["currency"]:
        await _move(intent, "failed", "the provider's amount differs from the intent")
        return "applied"
    if invoice["status"] not in PAYABLE | {"paid"}:
        await _move(intent, "failed", f"invoice is {invoice['status']}: refund at the provider")
        return "applied"
    await record_payment(
        conn,
        org, invoice, method=Method.CARD, amount=int(intent["amount"]),
        currency=intent["currency"], reference=intent["provider_reference"], received_at=None,
        by_user=None, intent_id=intent["id"], allow_paid=True,
    )  # fmt: skip
    await _move(intent, "succeeded")
    return "applied"
