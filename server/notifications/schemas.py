"""JSON Schemas of the notification endpoints (requests are validated with them; the OpenAPI
document publishes the same dicts)."""

from __future__ import annotations

from typing import Any

from actors.notifications import KINDS

Schema = dict[str, Any]

UUID: Schema = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}
INSTANT: Schema = {"type": "string", "format": "date-time"}
LANGUAGE: Schema = {"type": "string", "pattern": "^[a-z]{2}$"}
TIMEZONE: Schema = {"type": "string", "minLength": 1, "maxLength": 64}
CLOCK: Schema = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
CHANNEL: Schema = {"type": "string", "enum": ["email", "sms", "in_app"]}
# A notification kind, or an automation's named message (actors/notifications/templates.py).
KIND: Schema = {
    "anyOf": [
        {"type": "string", "enum": list(KINDS)},
        {"type": "string", "pattern": "^automation_message:[a-z][a-z0-9_]{0,39}$"},
    ]
}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


QUIET_HOURS = _nullable(_object({"start": CLOCK, "end": CLOCK}, ("start", "end")))

SETTINGS = _object(
    {
        "default_language": _nullable(LANGUAGE),
        "reminder_leads_min": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 20160},
            "maxItems": 5,
            "uniqueItems": True,
        },
        "quiet_hours": QUIET_HOURS,
        "timezone": _nullable(TIMEZONE),
    },
    ("default_language", "reminder_leads_min", "quiet_hours", "timezone"),
)

PREFERENCES = _object(
    {
        "language": _nullable(LANGUAGE),
        "channels": _object(
            {
                "email": {"type": "boolean"},
                "sms": {"type": "boolean"},
                "in_app": {"type": "boolean"},
            },
            ("email", "sms", "in_app"),
        ),  # fmt: skip
        "reminders": {"type": "boolean"},
        "updates": {"type": "boolean"},
        "quiet_hours": QUIET_HOURS,
        "timezone": _nullable(TIMEZONE),
    },
    ("language", "channels", "reminders", "updates", "quiet_hours", "timezone"),
)

TEMPLATE_PUT = _object(
    {
        "subject": {"type": "string", "maxLength": 200},
        "body": {"type": "string", "minLength": 1, "maxLength": 5000},
    },
    ("body",),
)

TEMPLATE = _object(
    {
        "kind": KIND,
        "channel": CHANNEL,
        "language": LANGUAGE,
        "subject": {"type": "string"},
        "body": {"type": "string"},
        "source": {"type": "string", "enum": ["clinic", "builtin"]},
        "placeholders": {"type": "array", "items": {"type": "string"}},
        "updated_at": _nullable(INSTANT),
    },
    ("kind", "channel", "language", "subject", "body", "source", "placeholders"),
)

TEMPLATES = _object({"data": {"type": "array", "items": TEMPLATE}}, ("data",))

OUTBOX_ROW = _object(
    {
        "id": UUID,
        "kind": {"type": "string"},
        "patient_id": UUID,
        "appointment_id": _nullable(UUID),
        "status": {"type": "string", "enum": ["pending", "sending", "sent", "failed", "skipped"]},
        "attempts": {"type": "integer"},
        "delivered": {"type": "array", "items": CHANNEL},
        "last_error": _nullable({"type": "string"}),
        "next_attempt_at": INSTANT,
        "created_at": INSTANT,
        "finished_at": _nullable(INSTANT),
    },
    ("id", "kind", "patient_id", "status", "attempts", "delivered", "created_at"),
)

OUTBOX_PAGE = _object(
    {"data": {"type": "array", "items": OUTBOX_ROW}, "next_cursor": _nullable({"type": "string"})},
    ("data", "next_cursor"),
)
