"""JSON Schemas of the webhooks request and response bodies (validation and OpenAPI alike)."""

from __future__ import annotations

from typing import Any

from actors.webhooks import FILTER_PATTERN
from storage.webhooks import STATUSES

Schema = dict[str, Any]

UUID: Schema = {"type": "string", "format": "uuid"}
INSTANT: Schema = {"type": "string", "format": "date-time"}
MAYBE_INSTANT: Schema = {"type": ["string", "null"], "format": "date-time"}
URL: Schema = {"type": "string", "minLength": 1, "maxLength": 2048}
DESCRIPTION: Schema = {"type": "string", "maxLength": 500}
EVENT_TYPES: Schema = {
    "type": "array",
    "items": {"type": "string", "maxLength": 100, "pattern": FILTER_PATTERN},
    "minItems": 1,
    "maxItems": 50,
    "uniqueItems": True,
    "description": "event types: exact (`appointment.booked`), a family (`appointment.*`), `*`",
}


def _object(properties: Schema, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def _page(item: Schema) -> Schema:
    return _object(
        {"data": {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}},
        ("data", "next_cursor"),
    )


ENDPOINT_CREATE = _object(
    {"url": URL, "description": DESCRIPTION, "event_types": EVENT_TYPES}, ("url", "event_types")
)
ENDPOINT_PATCH = _object(
    {
        "url": URL,
        "description": DESCRIPTION,
        "event_types": EVENT_TYPES,
        "enabled": {"type": "boolean", "description": "true re-enables and clears the failures"},
    },
    minProperties=1,
)

_ENDPOINT_FIELDS: Schema = {
    "id": UUID,
    "url": {"type": "string"},
    "description": {"type": "string"},
    "event_types": {"type": "array", "items": {"type": "string"}},
    "enabled": {"type": "boolean"},
    "disabled_at": MAYBE_INSTANT,
    "disabled_reason": {"enum": ["failures", "admin", None]},
    "consecutive_failures": {"type": "integer"},
    "created_at": INSTANT,
    "updated_at": INSTANT,
}
ENDPOINT = _object(_ENDPOINT_FIELDS, tuple(_ENDPOINT_FIELDS))
# Creation and rotation answer the secret, once: it is never shown again.
ENDPOINT_WITH_SECRET = _object(
    {**_ENDPOINT_FIELDS, "secret": {"type": "string", "pattern": "^whsec_"}},
    (*_ENDPOINT_FIELDS, "secret"),
)
ENDPOINTS_PAGE = _page(ENDPOINT)

_DELIVERY_FIELDS: Schema = {
    "id": UUID,
    "endpoint_id": UUID,
    "event_id": {"type": "string", "description": "the webhook-id header of every attempt"},
    "event_type": {"type": "string"},
    "status": {"enum": list(STATUSES)},
    "attempts": {"type": "integer"},
    "next_attempt_at": MAYBE_INSTANT,
    "last_status_code": {"type": ["integer", "null"]},
    "last_error": {"type": ["string", "null"]},
    "last_attempt_at": MAYBE_INSTANT,
    "delivered_at": MAYBE_INSTANT,
    "created_at": INSTANT,
}
DELIVERY = _object(_DELIVERY_FIELDS, tuple(_DELIVERY_FIELDS))
ATTEMPT = _object(
    {
        "attempt": {"type": "integer"},
        "status_code": {"type": ["integer", "null"]},
        "latency_ms": {"type": "integer"},
        "error": {"type": ["string", "null"]},
        "at": INSTANT,
    },
    ("attempt", "status_code", "latency_ms", "error", "at"),
)
DELIVERY_DETAIL = _object(
    {
        **_DELIVERY_FIELDS,
        "payload": {"type": "object"},
        "attempts_log": {"type": "array", "items": ATTEMPT},
    },
    (*_DELIVERY_FIELDS, "payload", "attempts_log"),
)
DELIVERIES_PAGE = _page(DELIVERY)
