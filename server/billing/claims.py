"""REST endpoints of insurance claims: built from lines of an issued invoice that carry a
service code, then `submit`, `accept` (the insurer's reference), `reject` (its reason),
`correct` (a rejected claim back to draft, to change and resubmit) and `pay` (the insurer's
payment recorded on the invoice). The front desk (admins, receptionists) works them; another
organization's claim is 404. A transition the table (storage.claims.TRANSITIONS) lacks is 409
`invalid_transition` with the allowed actions; the state machine is checked before the body."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from server.billing import money_schemas as schemas
from server.errors import not_found, validation_failed
from server.http import iso, json_response, read_json
from server.routing import Endpoint, roles
from server.web.params import path_id, uuid_value
from server.work import Work, unit_of_work
from storage import claims as store
from storage.claims import ClaimAction, ClaimState
from storage.payments import lock_invoice
from storage.types import Role

TAG = "billing"
DESK = roles(Role.ADMIN, Role.RECEPTIONIST)


async def render(claim: Mapping[str, Any]) -> dict[str, Any]:
    lines = await store.claim_lines(claim["id"])
    history = await store.claim_history(claim["id"])
    return {
        "id": str(claim["id"]), "invoice_id": str(claim["invoice_id"]),
        "patient_id": str(claim["patient_id"]), "insurer": claim["insurer"],
        "policy_number": claim["policy_number"], "currency": claim["currency"],
        "status": claim["status"], "insurer_reference": claim["insurer_reference"],
        "rejection_reason": claim["rejection_reason"], "submissions": claim["submissions"],
        "payment_id": None if claim["payment_id"] is None else str(claim["payment_id"]),
        "amount": sum(int(x["amount"]) for x in lines),
        "allowed_actions": [a.value for a in store.allowed_actions(ClaimState(claim["status"]))],
        "lines": [{"invoice_line_id": str(x["invoice_line_id"]),
                   "service_code": x["service_code"], "amount": int(x["amount"])}
                  for x in lines],
        "history": [{"action": h["action"], "from_status": h["from_status"],
                     "to_status": h["to_status"], "insurer_reference": h["insurer_reference"],
                     "rejection_reason": h["rejection_reason"], "at": iso(h["at"])}
                    for h in history],
        "created_at": iso(claim["created_at"]), "updated_at": iso(claim["updated_at"]),
    }  # fmt: skip


def _line_ids(raw: list[Any]) -> list[uuid.UUID]:
    return [uuid_value(v, f"line_ids[{i}]") for i, v in enumerate(raw)]


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.NEW_CLAIM)
    invoice_id = uuid_value(body["invoice_id"], "invoice_id")
    line_ids = _line_ids(body["line_ids"])
    async with unit_of_work(request, Work) as work:
        invoice = await lock_invoice(invoice_id)
        if invoice is None:
            raise validation_failed({"invoice_id": "is not an invoice of this clinic"})
        claim = await store.create_claim(
            work.org_id, invoice, insurer=body["insurer"], policy_number=body.get("policy_number"),
            line_ids=line_ids, by_user=work.principal.user_id,
        )  # fmt: skip
        await work.audit("claim.create", "claim", claim["id"],
                         after={"invoice_id": invoice_id, "status": claim["status"]})  # fmt: skip
        answer = await render(claim)
    return json_response(answer, status=201)


async def _claim(claim_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
    found = await store.get_claim(claim_id, lock=lock)
    if found is None:
        raise not_found("claim")
    return found


async def get(request: web.Request) -> web.Response:
    claim_id = path_id(request, what="claim")
    async with unit_of_work(request, Work):
        answer = await render(await _claim(claim_id))
    return json_response(answer)


async def list_(request: web.Request) -> web.Response:
    raw = request.query.get("status")
    status = None
    if raw:
        try:
            status = ClaimState(raw)
        except ValueError:
            allowed = ", ".join(s.value for s in ClaimState)
            raise validation_failed({"status": f"must be one of {allowed}"}) from None
    async with unit_of_work(request, Work):
        found = await store.list_claims(status=status, limit=200)
        data = [await render(c) for c in found]
    return json_response({"data": data})


async def edit(request: web.Request) -> web.Response:
    claim_id = path_id(request, what="claim")
    body = await read_json(request, schemas.EDIT_CLAIM)
    line_ids = _line_ids(body["line_ids"]) if "line_ids" in body else None
    async with unit_of_work(request, Work) as work:
        before = await _claim(claim_id, lock=True)
        after = await store.correct_claim(
            work.org_id, before, insurer=body.get("insurer"),
            policy_number=body.get("policy_number"), line_ids=line_ids,
        )  # fmt: skip
        await work.audit("claim.edit", "claim", claim_id)
        answer = await render(after)
    return json_response(answer)


def _transition(action: ClaimAction) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        claim_id = path_id(request, what="claim")
        body = await read_json(request, schemas.CLAIM_ACTION) if request.body_exists else {}
        async with unit_of_work(request, Work) as work:
            before = await _claim(claim_id, lock=True)
            after, payment = await store.transition_claim(
                work.conn, work.org_id, before, action,
                insurer_reference=body.get("insurer_reference"),
                rejection_reason=body.get("rejection_reason"), by_user=work.principal.user_id,
            )  # fmt: skip
            paid = None if payment is None else payment["id"]
            await work.audit(
                f"claim.{action.value}",
                "claim",
                claim_id,
                before={"status": before["status"]},
                after={"status": after["status"], "payment_id": paid},
            )
            answer = await render(after)
        return json_response(answer)

    handler.__name__ = f"claim_{action.value}"
    return handler


_ONE = "/v1/claims/{id}"
_SUMMARIES = {
    ClaimAction.SUBMIT: "Submit a draft claim to the insurer",
    ClaimAction.ACCEPT: "Record the insurer's acceptance (insurer_reference required)",
    ClaimAction.REJECT: "Record the insurer's rejection (rejection_reason required)",
    ClaimAction.PAY: "Record the insurer's payment of an accepted claim on the invoice",
    ClaimAction.CORRECT: "Reopen a rejected claim as a draft to correct and resubmit it",
}
ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/v1/claims", create, DESK,
             "Make a draft insurance claim of lines of an issued invoice", TAG,
             request_schema=schemas.NEW_CLAIM, response_schema=schemas.CLAIM, status=201,
             errors=(409, 422)),
    Endpoint("GET", "/v1/claims", list_, DESK, "Insurance claims, newest first", TAG,
             response_schema=schemas.CLAIMS,
             query={"status": "draft | submitted | accepted | rejected | paid"}, errors=(422,)),
    Endpoint("GET", _ONE, get, DESK, "An insurance claim, its lines and history", TAG,
             response_schema=schemas.CLAIM, errors=(404,)),
    Endpoint("PATCH", _ONE, edit, DESK, "Correct a draft claim (insurer, policy, lines)", TAG,
             request_schema=schemas.EDIT_CLAIM, response_schema=schemas.CLAIM,
             errors=(404, 409, 422)),
    *(
        Endpoint("POST", f"{_ONE}/{action.value}", _transition(action), DESK, summary, TAG,
                 request_schema=schemas.CLAIM_ACTION, response_schema=schemas.CLAIM,
                 errors=(404, 409, 422))
        for action, summary in _SUMMARIES.items()
    ),
]  # fmt: skip
