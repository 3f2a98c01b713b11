"""Insurance claims through REST: every cell of the state machine (allowed and refused), the
inputs each action needs, correction and resubmission, lines with service codes only, and the
insurer's payment on the invoice."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from storage.claims import TRANSITIONS, ClaimAction, ClaimState
from tests.integration.billing._money_fixtures import Money, assert_envelope, money

__all__ = ["money"]

LINES = [(2, 5000, 1900, "PT-01"), (1, 3333, 900, "PT-02"), (1, 2000, 0, None)]
# The body each action needs.
BODIES: dict[ClaimAction, dict[str, Any]] = {
    ClaimAction.SUBMIT: {},
    ClaimAction.ACCEPT: {"insurer_reference": "INS-42"},
    ClaimAction.REJECT: {"rejection_reason": "policy number missing"},
    ClaimAction.PAY: {},
    ClaimAction.CORRECT: {},
}
# How to reach each state from draft.
PATHS: dict[ClaimState, list[ClaimAction]] = {
    ClaimState.DRAFT: [],
    ClaimState.SUBMITTED: [ClaimAction.SUBMIT],
    ClaimState.ACCEPTED: [ClaimAction.SUBMIT, ClaimAction.ACCEPT],
    ClaimState.REJECTED: [ClaimAction.SUBMIT, ClaimAction.REJECT],
    ClaimState.PAID: [ClaimAction.SUBMIT, ClaimAction.ACCEPT, ClaimAction.PAY],
}


async def new_claim(
    money: Money, lines: list[int] | None = None
) -> tuple[dict[str, Any], uuid.UUID]:
    invoice, ids = await money.invoice(LINES)
    chosen = [ids[i] for i in (lines or [0, 1])]
    status, claim = await money.call("POST", "/v1/claims", "receptionist", {
        "invoice_id": str(invoice), "insurer": "Casa de Asigurari", "policy_number": "P-1",
        "line_ids": [str(i) for i in chosen],
    })  # fmt: skip
    assert status == 201, claim
    return claim, invoice


async def claim_of(money: Money, body: dict[str, Any]) -> tuple[int, Any]:
    return await money.call("POST", "/v1/claims", "admin", body)


async def act(money: Money, claim_id: str, action: ClaimAction) -> tuple[int, Any]:
    return await money.call("POST", f"/v1/claims/{claim_id}/{action.value}", "admin",
                            BODIES[action])  # fmt: skip


@pytest.mark.parametrize("state", list(ClaimState))
@pytest.mark.parametrize("action", list(ClaimAction))
async def test_every_cell(money: Money, state: ClaimState, action: ClaimAction) -> None:
    claim, _ = await new_claim(money)
    for step in PATHS[state]:
        status, body = await act(money, claim["id"], step)
        assert status == 200, body
    status, body = await act(money, claim["id"], action)
    target = TRANSITIONS.get((state, action))
    if target is None:
        error = assert_envelope(status, body, 409, "invalid_transition")
        assert error["details"]["status"] == state.value
        status, after = await money.call("GET", f"/v1/claims/{claim['id']}", "admin")
        assert after["status"] == state.value
    else:
        assert status == 200, body
        assert body["status"] == target.value
        assert body["history"][-1]["action"] == action.value


async def test_lines_carry_service_codes_and_amounts(money: Money) -> None:
    claim, invoice = await new_claim(money)
    # 2 x 50.00 + 19 % = 119.00; 33.33 + 9 % = 3.00 (2.9997 rounded) -> 36.33
    assert sorted((x["service_code"], x["amount"]) for x in claim["lines"]) == [
        ("PT-01", 11900),
        ("PT-02", 3633),
    ]
    assert claim["amount"] == 15533 and claim["status"] == "draft" and claim["submissions"] == 0
    # A line without a service code cannot be claimed; one already claimed neither.
    invoice2, ids = await money.invoice(LINES)
    status, body = await claim_of(
        money, {"invoice_id": str(invoice2), "insurer": "X", "line_ids": [str(ids[2])]}
    )
    error = assert_envelope(status, body, 422, "validation_failed")
    assert "line_ids[0]" in error["details"]["fields"]
    status, body = await claim_of(
        money,
        {
            "invoice_id": str(invoice),
            "insurer": "X",
            "line_ids": [claim["lines"][0]["invoice_line_id"]],
        },
    )
    assert_envelope(status, body, 409, "line_already_claimed")
    # A line of another invoice, a draft invoice, an unknown invoice.
    status, body = await claim_of(
        money,
        {
            "invoice_id": str(invoice2),
            "insurer": "X",
            "line_ids": [claim["lines"][0]["invoice_line_id"]],
        },
    )
    assert_envelope(status, body, 422, "validation_failed")
    draft, draft_lines = await money.invoice(LINES, status="draft")
    status, body = await claim_of(
        money, {"invoice_id": str(draft), "insurer": "X", "line_ids": [str(draft_lines[0])]}
    )
    assert_envelope(status, body, 409, "invoice_not_claimable")
    status, body = await claim_of(
        money, {"invoice_id": str(uuid.uuid4()), "insurer": "X", "line_ids": [str(uuid.uuid4())]}
    )
    assert_envelope(status, body, 422, "validation_failed")


async def test_actions_need_their_input(money: Money) -> None:
    claim, _ = await new_claim(money)
    await act(money, claim["id"], ClaimAction.SUBMIT)
    for action in (ClaimAction.ACCEPT, ClaimAction.REJECT):
        status, body = await money.call(
            "POST", f"/v1/claims/{claim['id']}/{action.value}", "admin", {}
        )
        assert_envelope(status, body, 422, "validation_failed")
    status, body = await money.call("POST", f"/v1/claims/{claim['id']}/accept", "admin",
                                    {"insurer_reference": ""})  # fmt: skip
    assert_envelope(status, body, 422, "validation_failed")
    status, body = await money.call("POST", f"/v1/claims/{claim['id']}/accept", "admin",
                                    {"insurer_reference": "R", "extra": True})  # fmt: skip
    assert_envelope(status, body, 422, "validation_failed")
    status, body = await money.call("GET", f"/v1/claims/{claim['id']}", "admin")
    assert body["status"] == "submitted"


async def test_rejected_corrected_and_resubmitted(money: Money) -> None:
    claim, invoice = await new_claim(money, [0])
    cid = claim["id"]
    await act(money, cid, ClaimAction.SUBMIT)
    status, body = await act(money, cid, ClaimAction.REJECT)
    assert body["rejection_reason"] == "policy number missing"
    # Lines change only in draft.
    status, body = await money.call("PATCH", f"/v1/claims/{cid}", "admin", {"policy_number": "P-2"})
    assert_envelope(status, body, 409, "claim_not_draft")
    status, body = await act(money, cid, ClaimAction.CORRECT)
    assert status == 200 and body["status"] == "draft"
    line_ids = [claim["lines"][0]["invoice_line_id"]]
    status, body = await money.call("PATCH", f"/v1/claims/{cid}", "admin",
                                    {"policy_number": "P-2", "line_ids": line_ids})  # fmt: skip
    assert status == 200 and body["policy_number"] == "P-2", body
    status, body = await act(money, cid, ClaimAction.SUBMIT)
    assert status == 200 and body["submissions"] == 2 and body["rejection_reason"] is None
    await act(money, cid, ClaimAction.ACCEPT)
    status, body = await act(money, cid, ClaimAction.PAY)
    assert status == 200 and body["status"] == "paid" and body["payment_id"]
    assert [h["action"] for h in body["history"]] == [
        "create",
        "submit",
        "reject",
        "correct",
        "submit",
        "accept",
        "pay",
    ]
    status, payments = await money.call("GET", f"/v1/invoices/{invoice}/payments", "admin")
    assert [(p["method"], p["amount"]) for p in payments["data"]] == [("insurer", 11900)]
    assert payments["invoice"]["status"] == "partially_paid"


async def test_claims_are_the_front_desks_and_the_clinics(money: Money) -> None:
    from tests.integration.billing._money_fixtures import make_money

    claim, _ = await new_claim(money)
    for who in ("specialist", "patient", "owner"):
        status, _ = await money.call("GET", f"/v1/claims/{claim['id']}", who)
        assert status == 403
    other = await make_money(money.client)
    status, body = await other.call("GET", f"/v1/claims/{claim['id']}", "admin")
    assert_envelope(status, body, 404, "not_found")
    status, body = await other.call("POST", f"/v1/claims/{claim['id']}/submit", "admin", {})
    assert_envelope(status, body, 404, "not_found")
    status, body = await money.call("GET", "/v1/claims?status=draft", "admin")
    assert status == 200 and [c["id"] for c in body["data"]] == [claim["id"]]
    status, body = await money.call("GET", "/v1/claims?status=nope", "admin")
    assert_envelope(status, body, 422, "validation_failed")
