"""What the live-calendar REST handlers and WebSocket ops share: hold tokens, rendering of holds,
and (from server/scheduling/shards.py) input parsing and the mapping of the facade's answers."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from actors.calendar import Hold
from server.scheduling.schemas import INSTANT, UUID
from server.scheduling.shards import (
    SLOT_QUERY,
    SlotQuery,
    failure,
    instant,
    instant_or_date,
    render_slots,
    settled,
)
from server.web.params import uuid_value
from storage.rfc3339 import format_instant

__all__ = [
    "HOLD_RESPONSE", "HOLD_TOKEN", "SLOT_QUERY", "SlotQuery", "failure", "instant",
    "instant_or_date", "new_hold_token", "optional_uuid", "render_hold", "render_slots", "settled",
]  # fmt: skip

HOLD_TOKEN: dict[str, Any] = {"type": "string", "minLength": 32, "maxLength": 128}
HOLD_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "calendar_id", "start", "end", "specialist_id", "expires_at"],
    "properties": {
        "id": UUID, "calendar_id": UUID, "start": INSTANT, "end": INSTANT,
        "specialist_id": UUID, "expires_at": INSTANT, "replaced_hold_id": {},
        "hold_token": {"type": "string"},
    },
}  # fmt: skip


def new_hold_token() -> str:
    return secrets.token_urlsafe(32)


def optional_uuid(value: object, name: str) -> uuid.UUID | None:
    return None if value is None else uuid_value(value, name)


def render_hold(hold: Hold, replaced: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "id": str(hold.id),
        "calendar_id": str(hold.calendar_id),
        "start": format_instant(hold.start),
        "end": format_instant(hold.end),
        "specialist_id": str(hold.specialist_id),
        "expires_at": format_instant(hold.expires_at),
        "replaced_hold_id": None if replaced is None else str(replaced),
    }
