"""REST endpoints of payments: record a payment of an invoice (cash, card, bank transfer),
refund one, and pay online through a provider's intent (`manual`: the front desk confirms it;
`test`: the provider calls back over a Standard Webhooks signed webhook, like a card processor).

Who: the front desk (admins, receptionists) records payments and works intents; refunds are
the admins'. An invoice of another organization, or unknown, is 404. Refused effects are 409
with a code: `invoice_not_payable` (draft, paid, void), `refund_exceeds_payment`,
`invalid_transition` (an intent that is no longer open); a payment in another currency than
the invoice's is 422 `currency_mismatch`.

The provider's webhook (`POST /v1/payments/providers/test/webhooks/{org}`) is public: its
signature (the organization's test secret) is the authentication; a bad one is 422
`invalid_signature` and nothing is read (422, not 401: no token is involved, the body is what
fails, as for the other public endpoints, which never answer 401 or 403). A replayed
`webhook-id` answers 200 `duplicate` and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from server.billing import money_schemas as schemas
from server.errors import ApiError, not_found
from server.http import iso, json_response, read_json
from server.resources import DB_KEY, SETTINGS_KEY
from server.routing import Endpoint, RateLimit, public, roles
from server.web.params import instant_value, path_id
from server.work import Work, unit_of_work
from storage import payments as store
from storage.payments import EventType, Method, ProviderName
from storage.types import Role

TAG = "billing"
DESK = roles(Role.ADMIN, Role.RECEPTIONIST)
ADMINS = roles(Role.ADMIN)
WEBHOOK_ACCESS = public(RateLimit(limit=600, window_s=60))
CALLBACK_TIMEOUT_S = 10.0


def _uuid(value: Any) -> str | None:
    return None if value is None else str(value)


def render_invoice(i: Mapping[str, Any]) -> dict[str, Any]:
    total, paid = int(i["total_amount"]), int(i["amount_paid"])
    return {
        "id": str(i["id"]), "status": i["status"], "currency": i["currency"],
        "total_amount": total, "amount_paid": paid, "balance": total - paid,
    }  # fmt: skip


def render_payment(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(p["id"]), "invoice_id": str(p["invoice_id"]), "kind": p["kind"],
        "refund_of": _uuid(p["refund_of"]), "method": p["method"], "amount": int(p["amount"]),
        "currency": p["currency"], "reference": p["reference"],
        "intent_id": _uuid(p["intent_id"]), "received_at": iso(p["received_at"]),
        "recorded_by": _uuid(p["recorded_by"]),
    }  # fmt: skip


def render_intent(t: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(t["id"]), "invoice_id": str(t["invoice_id"]), "provider": t["provider"],
        "provider_reference": t["provider_reference"], "amount": int(t["amount"]),
        "currency": t["currency"], "status": t["status"], "failure_reason": t["failure_reason"],
        "created_at": iso(t["created_at"]), "updated_at": iso(t["updated_at"]),
    }  # fmt: skip


def _money_audit(invoice: Mapping[str, Any]) -> dict[str, Any]:
    return {"status": invoice["status"], "amount_paid": int(invoice["amount_paid"])}


async def _invoice(invoice_id: uuid.UUID) -> dict[str, Any]:
    invoice = await store.lock_invoice(invoice_id)
    if invoice is None:
        raise not_found("invoice")
    return invoice


async def list_payments(request: web.Request) -> web.Response:
    invoice_id = path_id(request, what="invoice")
    async with unit_of_work(request, Work):
        invoice = await _invoice(invoice_id)
        found = await store.list_payments(invoice_id)
    return json_response({"data": [render_payment(p) for p in found],
                          "invoice": render_invoice(invoice)})  # fmt: skip


async def create_payment(request: web.Request) -> web.Response:
    invoice_id = path_id(request, what="invoice")
    body = await read_json(request, schemas.NEW_PAYMENT)
    received = body.get("received_at")
    received_at = None if received is None else instant_value(received, "received_at")
    async with unit_of_work(request, Work) as work:
        before = await _invoice(invoice_id)
        payment, after = await store.record_payment(
            work.conn, work.org_id, before, method=Method(body["method"]), amount=body["amount"],
            currency=body["currency"], reference=body.get("reference"), received_at=received_at,
            by_user=work.principal.user_id,
        )  # fmt: skip
        await work.audit("payment.record", "invoice", invoice_id, before=_money_audit(before),
                         after={**_money_audit(after), "payment_id": payment["id"],
                                "amount": body["amount"], "method": body["method"]})  # fmt: skip
    return json_response(
        {"payment": render_payment(payment), "invoice": render_invoice(after)}, status=201
    )


async def refund(request: web.Request) -> web.Response:
    payment_id = path_id(request, what="payment")
    body = await read_json(request, schemas.NEW_REFUND)
    async with unit_of_work(request, Work) as work:
        found = await store.get_payment(payment_id)
        if found is None or found["kind"] != "payment":
            raise not_found("payment")
        before = await _invoice(found["invoice_id"])
        made, after = await store.refund_payment(
            work.conn, work.org_id, before, payment_id, amount=body["amount"],
            reference=body.get("reference"), by_user=work.principal.user_id,
        )  # fmt: skip
        await work.audit("payment.refund", "invoice", before["id"], before=_money_audit(before),
                         after={**_money_audit(after), "refund_id": made["id"],
                                "refund_of": payment_id, "amount": body["amount"]})  # fmt: skip
    return json_response({"payment": render_payment(made), "invoice": render_invoice(after)},
                         status=201)  # fmt: skip


async def create_intent(request: web.Request) -> web.Response:
    invoice_id = path_id(request, what="invoice")
    body = await read_json(request, schemas.NEW_INTENT)
    provider = ProviderName(body["provider"])
    if provider is ProviderName.TEST and request.app[SETTINGS_KEY].is_production:
        raise ApiError(422, "validation_failed", "the test provider is off in production",
                       {"fields": {"provider": "is not available here"}})  # fmt: skip
    async with unit_of_work(request, Work) as work:
        invoice = await _invoice(invoice_id)
        intent = await store.create_intent(
            work.org_id, invoice, provider, amount=body["amount"], currency=body["currency"],
            by_user=work.principal.user_id,
        )  # fmt: skip
        await work.audit("payment_intent.create", "payment_intent", intent["id"],
                         after={"invoice_id": invoice_id, "provider": provider.value,
                                "amount": body["amount"]})  # fmt: skip
    return json_response(render_intent(intent), status=201)


async def get_intent(request: web.Request) -> web.Response:
    intent_id = path_id(request, what="payment intent")
    async with unit_of_work(request, Work):
        intent = await store.get_intent(intent_id)
    if intent is None:
        raise not_found("payment intent")
    return json_response(render_intent(intent))


async def confirm_intent(request: web.Request) -> web.Response:
    intent_id = path_id(request, what="payment intent")
    body = await read_json(request, schemas.CONFIRM_INTENT) if request.body_exists else {}
    async with unit_of_work(request, Work) as work:
        intent, payment, invoice = await store.confirm_manual(
            work.conn, work.org_id, intent_id, method=Method(body.get("method", "card")),
            by_user=work.principal.user_id,
        )  # fmt: skip
        await work.audit("payment_intent.confirm", "payment_intent", intent_id,
                         after={"payment_id": payment["id"], **_money_audit(invoice)})  # fmt: skip
    return json_response(render_intent(intent))


async def cancel_intent(request: web.Request) -> web.Response:
    intent_id = path_id(request, what="payment intent")
    async with unit_of_work(request, Work) as work:
        intent = await store.cancel_intent(intent_id)
        await work.audit("payment_intent.cancel", "payment_intent", intent_id)
    return json_response(render_intent(intent))


def webhook_path(org: uuid.UUID) -> str:
    return f"/v1/payments/providers/test/webhooks/{org}"


async def simulate(request: web.Request) -> web.Response:
    """The test provider completes (or declines) the intent the way a card processor does:
    after this request's checks, it POSTs a signed webhook to this server's own webhook route,
    and answers with the intent as the callback left it."""
    intent_id = path_id(request, what="payment intent")
    body = await read_json(request, schemas.SIMULATE)
    settings = request.app[SETTINGS_KEY]
    if settings.is_production:
        raise not_found("payment intent")
    async with unit_of_work(request, Work) as work:
        intent = await store.get_intent(intent_id)
        if intent is None:
            raise not_found("payment intent")
        org = work.org_id
    if intent["provider"] != ProviderName.TEST.value:
        raise ApiError(409, "confirmed_by_staff", "only the test provider calls back",
                       {"provider": intent["provider"]})  # fmt: skip
    event = EventType.SUCCEEDED if body["outcome"] == "succeeded" else EventType.FAILED
    callback = store.signed_callback(
        store.provider_secret(settings.secret, org), event, reference=intent["provider_reference"],
        amount=int(intent["amount"]), currency=intent["currency"], at=datetime.now(UTC),
        failure_reason="card declined (test)" if event is EventType.FAILED else None,
    )  # fmt: skip
    url = str(request.url.origin()) + webhook_path(org)
    timeout = aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=callback.body, headers=callback.headers) as answer,
    ):
        if answer.status != 200:
            raise ApiError(502, "callback_failed", "the provider's callback was refused",
                           {"status": answer.status})  # fmt: skip
    async with unit_of_work(request, Work):
        after = await store.get_intent(intent_id)
    assert after is not None
    return json_response(render_intent(after))


async def provider_webhook(request: web.Request) -> web.Response:
    try:
        org = uuid.UUID(request.match_info["org"])
    except ValueError:
        raise ApiError(422, "invalid_signature", "the webhook signature does not verify") from None
    raw = await request.content.read(store.MAX_WEBHOOK_BYTES + 1)
    if len(raw) > store.MAX_WEBHOOK_BYTES:
        raise ApiError(413, "payload_too_large", "webhook body too large")
    headers = {k.lower(): v for k, v in request.headers.items()}
    secret = store.provider_secret(request.app[SETTINGS_KEY].secret, org)
    try:
        event = store.verify_callback(secret, raw, headers)
    except store.BadSignature:
        raise ApiError(422, "invalid_signature", "the webhook signature does not verify") from None
    async with request.app[DB_KEY].tenant(org) as conn:
        result = await store.apply_event(conn, org, ProviderName.TEST, event)
    return json_response({"result": result})


_INTENT = "/v1/payment-intents/{id}"
ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/v1/invoices/{id}/payments", list_payments, DESK,
             "An invoice's payments and refunds, and its balance", TAG,
             response_schema=schemas.PAYMENTS, errors=(404,)),
    Endpoint("POST", "/v1/invoices/{id}/payments", create_payment, DESK,
             "Record a payment of an invoice (partial and over-payments accepted)", TAG,
             request_schema=schemas.NEW_PAYMENT, response_schema=schemas.PAYMENT_RESULT,
             status=201, errors=(404, 409, 422)),
    Endpoint("POST", "/v1/payments/{id}/refund", refund, ADMINS,
             "Refund (part of) a payment", TAG, request_schema=schemas.NEW_REFUND,
             response_schema=schemas.PAYMENT_RESULT, status=201, errors=(404, 409, 422)),
    Endpoint("POST", "/v1/invoices/{id}/payment-intents", create_intent, DESK,
             "Start an online payment of an invoice at a provider (manual or test)", TAG,
             request_schema=schemas.NEW_INTENT, response_schema=schemas.INTENT, status=201,
             errors=(404, 409, 422)),
    Endpoint("GET", _INTENT, get_intent, DESK, "A payment intent", TAG,
             response_schema=schemas.INTENT, errors=(404,)),
    Endpoint("POST", f"{_INTENT}/confirm", confirm_intent, DESK,
             "Confirm a manual provider's intent: the payment is recorded", TAG,
             request_schema=schemas.CONFIRM_INTENT, response_schema=schemas.INTENT,
             errors=(404, 409, 422)),
    Endpoint("POST", f"{_INTENT}/cancel", cancel_intent, DESK, "Cancel an open intent", TAG,
             response_schema=schemas.INTENT, errors=(404, 409)),
    Endpoint("POST", f"{_INTENT}/simulate", simulate, DESK,
             "Test provider: call back over the signed webhook (not in production)", TAG,
             request_schema=schemas.SIMULATE, response_schema=schemas.INTENT,
             errors=(404, 409, 422, 502)),
    Endpoint("POST", "/v1/payments/providers/test/webhooks/{org}", provider_webhook,
             WEBHOOK_ACCESS, "The test provider's signed callback (Standard Webhooks)", TAG,
             response_schema=schemas.WEBHOOK_ANSWER, errors=(413, 422), raw_body=True),
]  # fmt: skip
