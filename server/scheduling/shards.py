"""Handlers calling the calendar shards (actors/calendar): their answers as API results, and the
slot list as the API shows it. Shared by the scheduling handlers and server/live (which builds
on this package, never the other way round)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, datetime
from typing import Any, TypeVar

from actors.calendar import messages as m
from actors.calendar import slot_json
from server.errors import ApiError, validation_failed
from server.pool_errors import pool_errors
from server.web.params import instant_value

T = TypeVar("T")


def instant(value: object, name: str) -> datetime:
    """An RFC 3339 instant with an offset; 422 otherwise (the web kit's parser and words)."""
    return instant_value(value, name)


def instant_or_date(raw: str | None, name: str) -> datetime | date | None:
    if not raw:
        return None
    if len(raw) == 10:
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise validation_failed({name: "must be a date or an RFC 3339 date-time"}) from None
    return instant(raw, name)


def render_slots(view: m.SlotsView) -> dict[str, Any]:
    return {
        "calendar_id": str(view.calendar_id),
        "timezone": view.timezone,
        "position": view.position.as_dict(),
        "slots": [slot_json(s) for s in view.slots],
    }


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
