"""Payments through REST: their effect on the invoice's state (allowed and refused), partial,
over-payments and refunds, the providers' intents and the test provider's signed webhook."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from storage.payments import EventType, provider_secret, signed_callback
from tests.integration.billing._money_fixtures import Money, assert_envelope, money

__all__ = ["money"]

ONE = [(1, 10000, 0, "PT-01")]  # 100.00, no tax


def pay(amount: int, method: str = "cash", currency: str = "EUR") -> dict[str, object]:
    return {"method": method, "amount": amount, "currency": currency}


async def test_partial_then_full_then_refused(money: Money) -> None:
    invoice, _ = await money.invoice(ONE)
    path = f"/v1/invoices/{invoice}/payments"
    status, body = await money.call("POST", path, "receptionist", pay(4000))
    assert status == 201, body
    assert body["invoice"] == {
        "id": str(invoice),
        "status": "partially_paid",
        "currency": "EUR",
        "total_amount": 10000,
        "amount_paid": 4000,
        "balance": 6000,
    }
    status, body = await money.call("POST", path, "admin", pay(6000, "bank_transfer"))
    assert status == 201 and body["invoice"]["status"] == "paid", body
    status, body = await money.call("POST", path, "admin", pay(1))
    assert_envelope(status, body, 409, "invoice_not_payable")
    status, body = await money.call("GET", path, "receptionist")
    assert status == 200 and [p["amount"] for p in body["data"]] == [4000, 6000]
    assert body["invoice"]["balance"] == 0


@pytest.mark.parametrize("state", ["draft", "void"])
async def test_not_payable_states(money: Money, state: str) -> None:
    invoice, _ = await money.invoice(ONE, status=state)
    status, body = await money.call("POST", f"/v1/invoices/{invoice}/payments", "admin", pay(100))
    assert_envelope(status, body, 409, "invoice_not_payable")


async def test_overdue_stays_overdue_until_paid_and_a_refund_reopens(money: Money) -> None:
    past = datetime.now(UTC).date() - timedelta(days=5)
    invoice, _ = await money.invoice(ONE, status="overdue", due_on=past)
    path = f"/v1/invoices/{invoice}/payments"
    status, body = await money.call("POST", path, "admin", pay(2500))
    assert status == 201 and body["invoice"]["status"] == "overdue", body
    status, body = await money.call("POST", path, "admin", pay(7500))
    assert status == 201 and body["invoice"]["status"] == "paid"
    payment = body["payment"]["id"]
    status, body = await money.call(
        "POST", f"/v1/payments/{payment}/refund", "admin", {"amount": 7500}
    )
    assert status == 201, body
    assert body["payment"]["kind"] == "refund" and body["payment"]["refund_of"] == payment
    # The invoice state machine: a refund of a paid invoice leaves it partially paid; the
    # overdue sweep (the invoices feature) marks it overdue again.
    assert body["invoice"]["status"] == "partially_paid" and body["invoice"]["amount_paid"] == 2500
    status, body = await money.call("GET", path, "admin")
    assert [(p["kind"], p["amount"]) for p in body["data"]] == [
        ("payment", 2500),
        ("payment", 7500),
        ("refund", 7500),
    ]


async def test_full_refund_returns_to_issued(money: Money) -> None:
    invoice, _ = await money.invoice(ONE)
    status, body = await money.call("POST", f"/v1/invoices/{invoice}/payments", "admin", pay(10000))
    payment = body["payment"]["id"]
    status, body = await money.call(
        "POST", f"/v1/payments/{payment}/refund", "admin", {"amount": 10000}
    )
    assert status == 201 and body["invoice"]["status"] == "issued", body
    assert body["invoice"]["balance"] == 10000
    # A refund of a refund, or of an unknown payment: 404.
    status, body = await money.call(
        "POST", f"/v1/payments/{body['payment']['id']}/refund", "admin", {"amount": 1}
    )
    assert_envelope(status, body, 404, "not_found")
    status, body = await money.call(
        "POST", f"/v1/payments/{uuid.uuid4()}/refund", "admin", {"amount": 1}
    )
    assert_envelope(status, body, 404, "not_found")


async def test_over_payment_and_refunds(money: Money) -> None:
    invoice, _ = await money.invoice(ONE)
    status, body = await money.call(
        "POST", f"/v1/invoices/{invoice}/payments", "admin", pay(15000, "card")
    )
    assert status == 201 and body["invoice"]["status"] == "paid"
    assert body["invoice"]["balance"] == -5000  # a credit of 50.00
    payment = body["payment"]["id"]
    refund = f"/v1/payments/{payment}/refund"
    status, body = await money.call("POST", refund, "admin", {"amount": 5000})
    assert status == 201 and body["invoice"]["status"] == "paid"
    assert body["invoice"]["balance"] == 0
    status, body = await money.call("POST", refund, "admin", {"amount": 2500})
    assert status == 201 and body["invoice"]["status"] == "partially_paid"
    # 15000 - 5000 - 2500 = 7500 left of the payment: 7501 is too much.
    status, body = await money.call("POST", refund, "admin", {"amount": 7501})
    error = assert_envelope(status, body, 409, "refund_exceeds_payment")
    assert error["details"]["refunded"] == 7500
    # Refunds are the admins'.
    status, body = await money.call("POST", refund, "receptionist", {"amount": 1})
    assert status == 403, body


async def test_currency_mismatch_and_bad_input(money: Money) -> None:
    invoice, _ = await money.invoice(ONE)
    path = f"/v1/invoices/{invoice}/payments"
    status, body = await money.call("POST", path, "admin", pay(100, currency="RON"))
    error = assert_envelope(status, body, 422, "currency_mismatch")
    assert error["details"]["expected"] == "EUR" and error["details"]["found"] == "RON"
    for bad in (pay(0), pay(-5), {**pay(100), "method": "cheque"}, {"amount": 100},
                {**pay(100), "amount": 1.5}, {**pay(100), "extra": 1}):  # fmt: skip
        status, body = await money.call("POST", path, "admin", bad)
        assert_envelope(status, body, 422, "validation_failed")
    status, body = await money.call("POST", path, "admin", raw=b"{not json")
    assert_envelope(status, body, 400, "bad_request")
    status, body = await money.call("POST", f"/v1/invoices/{uuid.uuid4()}/payments", "admin",
                                    pay(100))  # fmt: skip
    assert_envelope(status, body, 404, "not_found")
    status, body = await money.call("POST", "/v1/invoices/nope/payments", "admin", pay(100))
    assert status in (404, 422), body


async def test_other_clinic_invoice_is_not_found(money: Money) -> None:
    from tests.integration.billing._money_fixtures import make_money

    other = await make_money(money.client)
    invoice, _ = await other.invoice(ONE)
    status, body = await money.call("POST", f"/v1/invoices/{invoice}/payments", "admin", pay(1))
    assert_envelope(status, body, 404, "not_found")
    status, body = await money.call("GET", f"/v1/invoices/{invoice}/payments", "admin")
    assert_envelope(status, body, 404, "not_found")


async def test_manual_intent_confirmed_once(money: Money) -> None:
    invoice, _ = await money.invoice(ONE)
    status, intent = await money.call(
        "POST", f"/v1/invoices/{invoice}/payment-intents", "receptionist",
        {"provider": "manual", "amount": 10000, "currency": "EUR"},
    )  # fmt: skip
    assert status == 201 and intent["status"] == "requires_action", intent
    path = f"/v1/payment-intents/{intent['id']}"
    status, body = await money.call("POST", f"{path}/confirm", "receptionist", {"method": "card"})
    assert status == 200 and body["status"] == "succeeded", body
    status, body = await money.call("POST", f"{path}/confirm", "receptionist", {"method": "card"})
    assert_envelope(status, body, 409, "invalid_transition")
    status, body = await money.call("POST", f"{path}/cancel", "receptionist")
    assert_envelope(status, body, 409, "invalid_transition")
    status, body = await money.call("GET", f"/v1/invoices/{invoice}/payments", "admin")
    assert body["invoice"]["status"] == "paid" and len(body["data"]) == 1


async def test_test_provider_calls_back_over_signed_webhook(money: Money) -> None:
    invoice, _ = await money.invoice(ONE)
    status, intent = await money.call(
        "POST", f"/v1/invoices/{invoice}/payment-intents", "admin",
        {"provider": "test", "amount": 10000, "currency": "EUR"},
    )  # fmt: skip
    assert status == 201, intent
    status, body = await money.call("POST", f"/v1/payment-intents/{intent['id']}/confirm",
                                    "admin")  # fmt: skip
    assert_envelope(status, body, 409, "confirmed_by_provider")
    status, body = await money.call(
        "POST", f"/v1/payment-intents/{intent['id']}/simulate", "admin", {"outcome": "succeeded"}
    )
    assert status == 200 and body["status"] == "succeeded", body
    status, body = await money.call("GET", f"/v1/invoices/{invoice}/payments", "admin")
    assert body["invoice"]["status"] == "paid"
    assert [(p["method"], p["intent_id"]) for p in body["data"]] == [("card", intent["id"])]


async def test_webhook_signature_and_replay(money: Money) -> None:
    invoice, _ = await money.invoice(ONE)
    status, intent = await money.call(
        "POST", f"/v1/invoices/{invoice}/payment-intents", "admin",
        {"provider": "test", "amount": 4000, "currency": "EUR"},
    )  # fmt: skip
    hook = f"/v1/payments/providers/test/webhooks/{money.org}"
    secret = provider_secret(_secret(money), money.org)
    callback = signed_callback(
        secret, EventType.SUCCEEDED, reference=intent["provider_reference"], amount=4000,
        currency="EUR", at=datetime.now(UTC),
    )  # fmt: skip

    async def post(body: bytes, headers: dict[str, str]) -> tuple[int, object]:
        response = await money.client.post(hook, data=body, headers=headers)
        return response.status, await response.json()

    # A body changed after signing, a wrong secret, another clinic's route: 422, nothing done.
    tampered = callback.body.replace(b"4000", b"9000")
    status, body = await post(tampered, callback.headers)
    assert_envelope(status, body, 422, "invalid_signature")
    wrong = signed_callback(
        provider_secret("another-secret-" + "y" * 40, money.org), EventType.SUCCEEDED,
        reference=intent["provider_reference"], amount=4000, currency="EUR",
        at=datetime.now(UTC),
    )  # fmt: skip
    status, body = await post(wrong.body, wrong.headers)
    assert_envelope(status, body, 422, "invalid_signature")
    status, body = await post(callback.body, {**callback.headers, "webhook-signature": "v1,AAAA"})
    assert_envelope(status, body, 422, "invalid_signature")
    response = await money.client.post(
        f"/v1/payments/providers/test/webhooks/{uuid.uuid4()}", data=callback.body,
        headers=callback.headers,
    )  # fmt: skip
    assert response.status == 422
    stale = signed_callback(
        secret, EventType.SUCCEEDED, reference=intent["provider_reference"], amount=4000,
        currency="EUR", at=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    status, body = await post(stale.body, stale.headers)
    assert_envelope(status, body, 422, "invalid_signature")
    status, answer = await money.call("GET", f"/v1/invoices/{invoice}/payments", "admin")
    assert answer["data"] == [] and answer["invoice"]["status"] == "issued"

    # The real delivery, then its replay (same webhook-id): one payment.
    assert await post(callback.body, callback.headers) == (200, {"result": "applied"})
    assert await post(callback.body, callback.headers) == (200, {"result": "duplicate"})
    # Another delivery for the same intent (a processor's retry with a new id): no second one.
    again = signed_callback(
        secret, EventType.SUCCEEDED, reference=intent["provider_reference"], amount=4000,
        currency="EUR", at=datetime.now(UTC),
    )  # fmt: skip
    assert await post(again.body, again.headers) == (200, {"result": "ignored"})
    status, answer = await money.call("GET", f"/v1/invoices/{invoice}/payments", "admin")
    assert [p["amount"] for p in answer["data"]] == [4000]
    assert answer["invoice"]["status"] == "partially_paid"


async def test_failed_callback_fails_the_intent(money: Money) -> None:
    invoice, _ = await money.invoice(ONE)
    status, intent = await money.call(
        "POST", f"/v1/invoices/{invoice}/payment-intents", "admin",
        {"provider": "test", "amount": 10000, "currency": "EUR"},
    )  # fmt: skip
    status, body = await money.call(
        "POST", f"/v1/payment-intents/{intent['id']}/simulate", "admin", {"outcome": "failed"}
    )
    assert status == 200 and body["status"] == "failed" and body["failure_reason"], body
    status, answer = await money.call("GET", f"/v1/invoices/{invoice}/payments", "admin")
    assert answer["data"] == [] and answer["invoice"]["status"] == "issued"


def _secret(money: Money) -> str:
    from server.resources import SETTINGS_KEY

    return money.client.app[SETTINGS_KEY].secret
