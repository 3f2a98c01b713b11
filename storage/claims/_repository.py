"""Insurance claims' reads and writes (see the package's docstring)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg

from storage.claims._states import ClaimAction, ClaimState, next_state
from storage.errors import Conflict, Invalid
from storage.orm import first, rows
from storage.payments import Method, invoice_for_payment, record_payment
from storage.tables import InsuranceClaimHistory, InsuranceClaimLines, InsuranceClaims, InvoiceLines

Row = dict[str, Any]
MAX_LINES = 200
CLAIMABLE = frozenset({"issued", "partially_paid", "overdue", "paid"})


def _text(value: object, field: str, limit: int, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Invalid({field: f"must be 1..{limit} characters"})
    return value.strip()


async def _claim_lines(invoice: Row, line_ids: Sequence[uuid.UUID]) -> list[Row]:
    """The invoice's lines named, each with a service code (422 naming the first that is not)."""
    if not line_ids or len(line_ids) > MAX_LINES or len(set(line_ids)) != len(line_ids):
        raise Invalid({"line_ids": f"must name 1..{MAX_LINES} distinct lines of the invoice"})
    found = await rows(
        InvoiceLines.select().where(
            InvoiceLines.id.is_in(list(line_ids)) & (InvoiceLines.invoice_id == invoice["id"])
        )
    )
    by_id = {r["id"]: r for r in found}
    for i, line_id in enumerate(line_ids):
        line = by_id.get(line_id)
        if line is None:
            raise Invalid({f"line_ids[{i}]": "is not a line of this invoice"})
        if not line["service_code"]:
            raise Invalid({f"line_ids[{i}]": "has no service code to claim"})
        if int(line["gross_amount"]) <= 0:
            raise Invalid({f"line_ids[{i}]": "has nothing to claim"})
    return [by_id[i] for i in line_ids]


async def _write_lines(org: uuid.UUID, claim_id: uuid.UUID, invoice_id: uuid.UUID,
                       lines: list[Row]) -> None:  # fmt: skip
    await InsuranceClaimLines.delete().where(InsuranceClaimLines.claim_id == claim_id)
    await InsuranceClaimLines.insert(
        *(
            InsuranceClaimLines(
                id=uuid.uuid4(),
                organization_id=org,
                claim_id=claim_id,
                invoice_id=invoice_id,
                invoice_line_id=line["id"],
                service_code=line["service_code"],
                amount=int(line["gross_amount"]),
            )
            for line in lines
        )
    )


async def _history(org: uuid.UUID, claim: Row, action: str, before: str | None,
                   by_user: uuid.UUID | None) -> None:  # fmt: skip
    await InsuranceClaimHistory.insert(
        InsuranceClaimHistory(
            id=uuid.uuid4(),
            organization_id=org,
            claim_id=claim["id"],
            action=action,
            from_status=before,
            to_status=claim["status"],
            insurer_reference=claim["insurer_reference"],
            rejection_reason=claim["rejection_reason"],
            by_user=by_user,
        )
    )


async def create_claim(
    org: uuid.UUID,
    invoice: Row,
    *,
    insurer: object,
    policy_number: object,
    line_ids: Sequence[uuid.UUID],
    by_user: uuid.UUID | None,
) -> Row:
    """A draft claim of lines of an issued invoice (locked by the caller). A line already in a
    claim is 409 `line_already_claimed`."""
    if invoice["kind"] != "invoice" or invoice["status"] not in CLAIMABLE:
        raise Conflict(
            f"a claim is made of an issued invoice, not of one that is {invoice['status']}",
            {"status": invoice["status"], "kind": invoice["kind"]},
            code="invoice_not_claimable",
        )
    name = _text(insurer, "insurer", 200, required=True)
    policy = _text(policy_number, "policy_number", 100, required=False)
    lines = await _claim_lines(invoice, line_ids)
    await _not_claimed([line["id"] for line in lines], None)
    claim_id = uuid.uuid4()
    claim = (
        await rows(
            InsuranceClaims.insert(
                InsuranceClaims(
                    id=claim_id,
                    organization_id=org,
                    invoice_id=invoice["id"],
                    patient_id=invoice["patient_id"],
                    insurer=name,
                    policy_number=policy,
                    currency=invoice["currency"],
                    status=ClaimState.DRAFT.value,
                    created_by=by_user,
                )
            ).returning(*InsuranceClaims.all_columns())
        )
    )[0]
    await _write_lines(org, claim_id, invoice["id"], lines)
    await _history(org, claim, "create", None, by_user)
    return claim


async def _not_claimed(line_ids: list[uuid.UUID], claim_id: uuid.UUID | None) -> None:
    """409 when a line is in a claim other than `claim_id` (the unique key is the proof)."""
    where: Any = InsuranceClaimLines.invoice_line_id.is_in(line_ids)
    if claim_id is not None:
        where = where & (InsuranceClaimLines.claim_id != claim_id)
    taken = await rows(InsuranceClaimLines.select(InsuranceClaimLines.invoice_line_id).where(where))
    if taken:
        raise Conflict(
            "a line of the invoice is in another claim already",
            {"line_ids": [str(r["invoice_line_id"]) for r in taken]},
            code="line_already_claimed",
        )


async def get_claim(claim_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    query = InsuranceClaims.select().where(InsuranceClaims.id == claim_id)
    if lock:
        query = query.lock_rows("NO KEY UPDATE")
    return await first(query.first())


async def claim_lines(claim_id: uuid.UUID) -> list[Row]:
    return await rows(
        InsuranceClaimLines.select()
        .where(InsuranceClaimLines.claim_id == claim_id)
        .order_by(InsuranceClaimLines.service_code)
        .order_by(InsuranceClaimLines.id)
    )


async def claim_history(claim_id: uuid.UUID) -> list[Row]:
    return await rows(
        InsuranceClaimHistory.select()
        .where(InsuranceClaimHistory.claim_id == claim_id)
        .order_by(InsuranceClaimHistory.at)
        .order_by(InsuranceClaimHistory.id)
    )


async def list_claims(*, status: ClaimState | None, limit: int) -> list[Row]:
    query = InsuranceClaims.select()
    if status is not None:
        query = query.where(InsuranceClaims.status == status.value)
    return await rows(
        query.order_by(InsuranceClaims.created_at, ascending=False)
        .order_by(InsuranceClaims.id)
        .limit(limit)
    )


async def correct_claim(
    org: uuid.UUID,
    claim: Row,
    *,
    insurer: object = None,
    policy_number: object = None,
    line_ids: Sequence[uuid.UUID] | None,
) -> Row:
    """Change a draft claim (locked): its insurer, policy number or lines. 409 unless draft."""
    if claim["status"] != ClaimState.DRAFT.value:
        raise Conflict(
            f"only a draft claim changes; this one is {claim['status']}",
            {"status": claim["status"]},
            code="claim_not_draft",
        )
    changes: dict[Any, Any] = {InsuranceClaims.updated_at: datetime.now(UTC)}
    if insurer is not None:
        changes[InsuranceClaims.insurer] = _text(insurer, "insurer", 200, required=True)
    if policy_number is not None:
        changes[InsuranceClaims.policy_number] = _text(
            policy_number, "policy_number", 100, required=True
        )
    if line_ids is not None:
        invoice = await invoice_for_payment(claim["invoice_id"])
        lines = await _claim_lines(invoice, line_ids)
        await _not_claimed([line["id"] for line in lines], claim["id"])
        await _write_lines(org, claim["id"], claim["invoice_id"], lines)
    return (
        await rows(
            InsuranceClaims.update(changes)
            .where(InsuranceClaims.id == claim["id"])
            .returning(*InsuranceClaims.all_columns())
        )
    )[0]


async def transition_claim(
    conn: asyncpg.Connection,
    org: uuid.UUID,
    claim: Row,
    action: ClaimAction,
    *,
    insurer_reference: object = None,
    rejection_reason: object = None,
    by_user: uuid.UUID | None,
) -> tuple[Row, Row | None]:
    """Apply `action` to the claim (locked): the claim after it, and for `pay` the insurer's
    payment on the invoice. InvalidTransition (409) first, then the action's own input (422)."""
    state = next_state(ClaimState(claim["status"]), action)
    now = datetime.now(UTC)
    changes: dict[Any, Any] = {InsuranceClaims.status: state.value, InsuranceClaims.updated_at: now}
    payment: Row | None = None
    if action is ClaimAction.SUBMIT:
        if not await claim_lines(claim["id"]):
            raise Invalid({"lines": "a claim needs at least one line"})
        changes[InsuranceClaims.submissions] = int(claim["submissions"]) + 1
        changes[InsuranceClaims.submitted_at] = now
        changes[InsuranceClaims.rejection_reason] = None
    elif action is ClaimAction.ACCEPT:
        changes[InsuranceClaims.insurer_reference] = _text(
            insurer_reference, "insurer_reference", 100, required=True
        )
        changes[InsuranceClaims.decided_at] = now
    elif action is ClaimAction.REJECT:
        changes[InsuranceClaims.rejection_reason] = _text(
            rejection_reason, "rejection_reason", 1000, required=True
        )
        if insurer_reference is not None:
            changes[InsuranceClaims.insurer_reference] = _text(
                insurer_reference, "insurer_reference", 100, required=True
            )
        changes[InsuranceClaims.decided_at] = now
    elif action is ClaimAction.PAY:
        invoice = await invoice_for_payment(claim["invoice_id"])
        amount = sum(int(line["amount"]) for line in await claim_lines(claim["id"]))
        payment, _ = await record_payment(
            conn,
            org, invoice, method=Method.INSURER, amount=amount, currency=claim["currency"],
            reference=claim["insurer_reference"], received_at=None, by_user=by_user,
            allow_paid=True,
        )  # fmt: skip
        changes[InsuranceClaims.payment_id] = payment["id"]
    updated = (
        await rows(
            InsuranceClaims.update(changes)
            .where(InsuranceClaims.id == claim["id"])
            .returning(*InsuranceClaims.all_columns())
        )
    )[0]
    await _history(org, updated, action.value, claim["status"], by_user)
    return updated, payment
