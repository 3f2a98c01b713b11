"""Payment providers: where an online payment happens. The interface is what a card processor
plugs into later: it names its intents (`new_reference`) and either the front desk confirms
them (`manual`) or the provider calls back over a signed webhook (`test`, the shape Stripe-like
processors use: Standard Webhooks headers, an event type, the provider's intent reference).

The test provider's signing secret is derived per organization from the server's secret
(HMAC-SHA256 with a fixed label), so it needs no setting and no stored secret, and it differs
per clinic: a webhook signed for one clinic never verifies for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from math import floor
from typing import Any, Protocol

import orjson
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from storage.errors import DomainError, Invalid

_LABEL = b"cadence/payments/test-provider/v1/"
MAX_WEBHOOK_BYTES = 16 * 1024  # a provider event is small


class ProviderName(StrEnum):
    MANUAL = "manual"
    TEST = "test"


class EventType(StrEnum):
    SUCCEEDED = "payment_intent.succeeded"
    FAILED = "payment_intent.failed"


class PaymentProvider(Protocol):
    @property
    def name(self) -> ProviderName: ...

    @property
    def confirmed_by_staff(self) -> bool:
        """True: the front desk confirms the intent (`POST .../confirm`); False: the
        provider's signed webhook does."""
        ...

    def new_reference(self) -> str: ...


@dataclass(frozen=True, slots=True)
class ManualProvider:
    name: ProviderName = ProviderName.MANUAL
    confirmed_by_staff: bool = True

    def new_reference(self) -> str:
        return "man_" + secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class TestProvider:
    name: ProviderName = ProviderName.TEST
    confirmed_by_staff: bool = False

    def new_reference(self) -> str:
        return "tst_" + secrets.token_hex(12)


PROVIDERS: dict[ProviderName, PaymentProvider] = {
    ProviderName.MANUAL: ManualProvider(),
    ProviderName.TEST: TestProvider(),
}


class BadSignature(DomainError):
    """A webhook whose signature, timestamp or headers do not verify: 422, nothing read."""

    def __init__(self) -> None:
        super().__init__("invalid_signature", "the webhook signature does not verify")


def provider_secret(server_secret: str, org: uuid.UUID) -> str:
    """The test provider's Standard Webhooks secret for one organization."""
    key = hmac.new(server_secret.encode(), _LABEL + str(org).encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(key).decode()


@dataclass(frozen=True, slots=True)
class Callback:
    webhook_id: str
    body: bytes
    headers: dict[str, str]


def signed_callback(
    secret: str,
    event: EventType,
    *,
    reference: str,
    amount: int,
    currency: str,
    at: datetime,
    failure_reason: str | None = None,
) -> Callback:
    """The test provider's webhook for an intent: its id, body and signed headers."""
    webhook_id = "msg_" + secrets.token_hex(12)
    data: dict[str, Any] = {"reference": reference, "amount": amount, "currency": currency}
    if failure_reason is not None:
        data["failure_reason"] = failure_reason
    body = orjson.dumps({"type": event.value, "timestamp": at.isoformat(), "data": data})
    signature = Webhook(secret).sign(webhook_id, at, body.decode())
    return Callback(
        webhook_id,
        body,
        {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(floor(at.timestamp())),
            "webhook-signature": signature,
            "content-type": "application/json",
        },
    )


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    webhook_id: str
    type: EventType
    reference: str
    amount: int
    currency: str
    failure_reason: str | None


def verify_callback(secret: str, body: bytes, headers: dict[str, str]) -> ProviderEvent:
    """The event of a webhook whose signature verifies (within the library's five-minute
    timestamp tolerance, against replays of old deliveries); BadSignature otherwise, Invalid
    for a signed body that is not an event we know."""
    names = ("webhook-id", "webhook-timestamp", "webhook-signature")
    wanted: dict[str, str] = {k: headers[k] for k in names if k in headers}
    try:
        Webhook(secret).verify(body, wanted, json_parse=False)
    except (WebhookVerificationError, ValueError, KeyError):
        raise BadSignature() from None
    try:
        payload = orjson.loads(body)
        data = payload["data"]
        event = EventType(payload["type"])
        reference, amount, currency = data["reference"], data["amount"], data["currency"]
        if not (isinstance(reference, str) and isinstance(currency, str)):
            raise TypeError
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError
        reason = data.get("failure_reason")
        if reason is not None and not isinstance(reason, str):
            raise TypeError
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise Invalid({"body": "is not a payment intent event"}) from None
    return ProviderEvent(wanted["webhook-id"], event, reference, amount, currency, reason)
