"""JSON Schema of the dashboard snapshot (OpenAPI shows it)."""

from __future__ import annotations

from typing import Any

from actors.dashboard import CARDS

Schema = dict[str, Any]

_COUNT: Schema = {"type": "integer", "minimum": 0}
CARDS_SCHEMA: Schema = {
    "type": "object",
    "properties": {name: _COUNT for name in CARDS},
    "required": list(CARDS),
    "additionalProperties": False,
}
ATTENTION_ITEM: Schema = {
    "type": "object",
    "required": ["id", "kind", "appointment_id", "patient_id", "since"],
    "properties": {
        "id": {"type": "string"},
        "kind": {"enum": ["late", "unconfirmed", "notification_failed", "intake_missing"]},
        "appointment_id": {"type": ["string", "null"], "format": "uuid"},
        "notification_id": {"type": "string", "format": "uuid"},
        "notification_kind": {"type": "string"},
        "patient_id": {"type": "string", "format": "uuid"},
        "specialist_id": {"type": "string", "format": "uuid"},
        "calendar_id": {"type": "string", "format": "uuid"},
        "start": {"type": "string", "format": "date-time"},
        "since": {"type": "string", "format": "date-time"},
    },
}
SNAPSHOT: Schema = {
    "type": "object",
    "required": ["day", "cards", "position"],
    "properties": {
        "day": {"type": "string", "format": "date"},
        "cards": CARDS_SCHEMA,
        # Staff only; an owner gets the cards alone.
        "attention": {"type": "array", "items": ATTENTION_ITEM},
        "position": {
            "type": "object",
            "required": ["offset", "epoch"],
            "properties": {"offset": {"type": "string"}, "epoch": {"type": "string"}},
        },
    },
}
