"""JSON Schemas of payments, payment intents, insurance claims and reports (requests validated
with them, OpenAPI shows them)."""

from __future__ import annotations

from typing import Any

from storage.claims import ClaimState
from storage.payments import MAX_AMOUNT, MAX_REFERENCE, Method, ProviderName
from storage.reports import GroupBy

Schema = dict[str, Any]

_UUID: Schema = {"type": "string", "format": "uuid"}
_NULLABLE_UUID: Schema = {"anyOf": [_UUID, {"type": "null"}]}
_INSTANT: Schema = {"type": "string", "format": "date-time"}
_NULLABLE_TEXT: Schema = {"type": ["string", "null"]}
_AMOUNT: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT}
_MONEY: Schema = {"type": "integer"}
_CURRENCY: Schema = {"type": "string", "pattern": "^[A-Z]{3}$"}
_METHOD: Schema = {"enum": [m.value for m in Method]}
_REFERENCE: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_REFERENCE}


def _object(properties: Schema, required: tuple[str, ...], **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


INVOICE_MONEY = _object(
    {
        "id": _UUID, "status": {"type": "string"}, "currency": _CURRENCY,
        "total_amount": _MONEY, "amount_paid": _MONEY, "balance": _MONEY,
    },
    ("id", "status", "currency", "total_amount", "amount_paid", "balance"),
)  # fmt: skip

NEW_PAYMENT = _object(
    {
        "method": {"enum": [m.value for m in Method if m is not Method.INSURER]},
        "amount": _AMOUNT,
        "currency": _CURRENCY,
        "reference": _REFERENCE,
        "received_at": _INSTANT,
    },
    ("method", "amount", "currency"),
)
NEW_REFUND = _object({"amount": _AMOUNT, "reference": _REFERENCE}, ("amount",))
PAYMENT = _object(
    {
        "id": _UUID, "invoice_id": _UUID, "kind": {"enum": ["payment", "refund"]},
        "refund_of": _NULLABLE_UUID, "method": _METHOD, "amount": _AMOUNT,
        "currency": _CURRENCY, "reference": _NULLABLE_TEXT, "intent_id": _NULLABLE_UUID,
        "received_at": _INSTANT, "recorded_by": _NULLABLE_UUID,
    },
    ("id", "invoice_id", "kind", "refund_of", "method", "amount", "currency", "reference",
     "intent_id", "received_at", "recorded_by"),
)  # fmt: skip
PAYMENT_RESULT = _object({"payment": PAYMENT, "invoice": INVOICE_MONEY}, ("payment", "invoice"))
PAYMENTS = _object(
    {"data": {"type": "array", "items": PAYMENT}, "invoice": INVOICE_MONEY}, ("data", "invoice")
)

NEW_INTENT = _object(
    {"provider": {"enum": [p.value for p in ProviderName]}, "amount": _AMOUNT,
     "currency": _CURRENCY},
    ("provider", "amount", "currency"),
)  # fmt: skip
INTENT = _object(
    {
        "id": _UUID, "invoice_id": _UUID, "provider": {"enum": [p.value for p in ProviderName]},
        "provider_reference": {"type": "string"}, "amount": _AMOUNT, "currency": _CURRENCY,
        "status": {"enum": ["requires_action", "succeeded", "failed", "cancelled"]},
        "failure_reason": _NULLABLE_TEXT, "created_at": _INSTANT, "updated_at": _INSTANT,
    },
    ("id", "invoice_id", "provider", "provider_reference", "amount", "currency", "status",
     "failure_reason", "created_at", "updated_at"),
)  # fmt: skip
CONFIRM_INTENT = _object({"method": {"enum": ["cash", "card", "bank_transfer"]}}, ())
SIMULATE = _object({"outcome": {"enum": ["succeeded", "failed"]}}, ("outcome",))
WEBHOOK_ANSWER = _object(
    {"result": {"enum": ["applied", "duplicate", "ignored", "unknown"]}}, ("result",)
)

_LINE_IDS: Schema = {"type": "array", "minItems": 1, "maxItems": 200, "items": _UUID}
NEW_CLAIM = _object(
    {
        "invoice_id": _UUID,
        "insurer": {"type": "string", "minLength": 1, "maxLength": 200},
        "policy_number": {"type": "string", "minLength": 1, "maxLength": 100},
        "line_ids": _LINE_IDS,
    },
    ("invoice_id", "insurer", "line_ids"),
)
EDIT_CLAIM = _object(
    {
        "insurer": {"type": "string", "minLength": 1, "maxLength": 200},
        "policy_number": {"type": "string", "minLength": 1, "maxLength": 100},
        "line_ids": _LINE_IDS,
    },
    (),
    minProperties=1,
)
CLAIM_ACTION = _object(
    {
        "insurer_reference": {"type": "string", "minLength": 1, "maxLength": 100},
        "rejection_reason": {"type": "string", "minLength": 1, "maxLength": 1000},
    },
    (),
)
CLAIM_LINE = _object(
    {"invoice_line_id": _UUID, "service_code": {"type": "string"}, "amount": _AMOUNT},
    ("invoice_line_id", "service_code", "amount"),
)
CLAIM_EVENT = _object(
    {"action": {"type": "string"}, "from_status": _NULLABLE_TEXT, "to_status": {"type": "string"},
     "insurer_reference": _NULLABLE_TEXT, "rejection_reason": _NULLABLE_TEXT, "at": _INSTANT},
    ("action", "from_status", "to_status", "insurer_reference", "rejection_reason", "at"),
)  # fmt: skip
CLAIM = _object(
    {
        "id": _UUID, "invoice_id": _UUID, "patient_id": _UUID, "insurer": {"type": "string"},
        "policy_number": _NULLABLE_TEXT, "currency": _CURRENCY,
        "status": {"enum": [s.value for s in ClaimState]},
        "insurer_reference": _NULLABLE_TEXT, "rejection_reason": _NULLABLE_TEXT,
        "submissions": {"type": "integer", "minimum": 0}, "payment_id": _NULLABLE_UUID,
        "amount": {"type": "integer", "minimum": 0},
        "allowed_actions": {"type": "array", "items": {"type": "string"}},
        "lines": {"type": "array", "items": CLAIM_LINE},
        "history": {"type": "array", "items": CLAIM_EVENT},
        "created_at": _INSTANT, "updated_at": _INSTANT,
    },
    ("id", "invoice_id", "patient_id", "insurer", "policy_number", "currency", "status",
     "insurer_reference", "rejection_reason", "submissions", "payment_id", "amount",
     "allowed_actions", "lines", "history", "created_at", "updated_at"),
)  # fmt: skip
CLAIMS = _object({"data": {"type": "array", "items": CLAIM}}, ("data",))

GROUP_BY_VALUES = [g.value for g in GroupBy]
REPORT = _object(
    {
        "title": {"type": "string"},
        "columns": {"type": "array", "items": {"type": "string"}},
        "rows": {"type": "array", "items": {"type": "array"}},
    },
    ("title", "columns", "rows"),
)
