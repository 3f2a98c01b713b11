"""The invoice as payments see it: locked while its payments change, and its amount paid moved
with them. The state that an amount paid implies is the invoice state machine's
(pipelines/billing, applied by `storage.billing.apply_payment_state`): one table of invoice
transitions, whoever moves them."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from storage.billing import apply_payment_state
from storage.orm import first
from storage.tables import Invoices

Row = dict[str, Any]


async def lock_invoice(invoice_id: uuid.UUID) -> Row | None:
    """The invoice, locked for this transaction (payments of one invoice queue), or None."""
    return await first(
        Invoices.select().where(Invoices.id == invoice_id).lock_rows("UPDATE").first()
    )


async def settle(conn: asyncpg.Connection, org: uuid.UUID, invoice: Row, delta: int) -> Row:
    """Add `delta` (a payment, or minus a refund) to the locked invoice's amount paid; the
    invoice after it, its state moved by the invoice state machine."""
    paid = int(invoice["amount_paid"]) + delta
    updated = await apply_payment_state(conn, org, invoice["id"], amount_paid=paid)
    return {k: v for k, v in updated.items() if k != "lines"}
