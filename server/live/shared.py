"""What the live-calendar REST handlers and WebSocket ops share: input parsing, rendering of the
facade's results, and the mapping of failures to the error envelope."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from actors.calendar import Hold
from actors.calendar import messages as m
from server.errors import ApiError, validation_failed
from server.pool_errors import pool_errors
from server.scheduling.schemas import INSTANT, UUID

T = TypeVar("T")

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


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_hold_token() -> str:
    return secrets.token_urlsafe(32)


def instant(value: object, name: str) -> datetime:
    """An RFC 3339 instant with an offset; 422 otherwise."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise validation_failed({name: "must be an RFC 3339 date-time"}) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise validation_failed({name: "must carry a UTC offset (e.g. Z or +02:00)"})
    return parsed


def instant_or_date(raw: str | None, name: str) -> datetime | date | None:
    if not raw:
        return None
    if len(raw) == 10:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise validation_failed({name: "must be a date or an RFC 3339 date-time"}) from None
    return instant(raw, name)


def optional_uuid(value: object, name: str) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise validation_failed({name: "must be a UUID"}) from None


def render_hold(hold: Hold, replaced: uuid.UUID | None = None) -> dict[str, Any]:
    return {
        "id": str(hold.id),
        "calendar_id": str(hold.calendar_id),
        "start": iso(hold.start),
        "end": iso(hold.end),
        "specialist_id": str(hold.specialist_id),
        "expires_at": iso(hold.expires_at),
        "replaced_hold_id": None if replaced is None else str(replaced),
    }


def render_slots(view: m.SlotsView) -> dict[str, Any]:
    offset, epoch = view.position
    return {
        "calendar_id": str(view.calendar_id),
        "timezone": view.timezone,
        "position": {"offset": offset, "epoch": epoch},
        "slots": [
            {"start": iso(s.start), "end": iso(s.end),
             "specialist_ids": [str(x) for x in s.specialist_ids]}
            for s in view.slots
        ],
    }  # fmt: skip


def failure(f: m.Failure) -> ApiError:
    return ApiError(f.status, f.code, f.message, dict(f.details))


async def settled(call: Awaitable[m.Result], kind: type[T]) -> T:
    """The facade's answer of the expected kind; failures and a busy or restarting shard
    become their API errors (429 / 503 with Retry-After)."""
    with pool_errors(
        "the calendar is busy; retry after the hint", "the calendar is restarting; retry shortly"
    ):
        result = await call
    if isinstance(result, m.Failure):
        headers = {"Retry-After": "1"} if result.status == 503 else {}
        raise ApiError(result.status, result.code, result.message, dict(result.details), headers)
    if not isinstance(result, kind):
        raise ApiError(503, "unavailable", "unexpected answer from the calendar; retry")
    return result
