"""Values from the path, the query string and JSON bodies (or WebSocket frames), each refused
with the same per-field message wherever it arrives: 422 `validation_failed` with
`details.fields`, or 404 for an id in the path (a malformed id names nothing)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import TypeVar

from aiohttp import web

from server.errors import not_found, validation_failed
from storage.field_errors import MUST_BE_DATE, MUST_BE_INSTANT, MUST_BE_UUID, REQUIRED
from storage.rfc3339 import parse_instant

T = TypeVar("T")

# The field messages are shared with schema validation (storage/field_errors.py), so a REST body
# and a WebSocket frame with the same bad value carry the same details.


def uuid_value(value: object, name: str) -> uuid.UUID:
    return _parsed(value, name, lambda v: uuid.UUID(str(v)), MUST_BE_UUID)


def instant_value(value: object, name: str) -> datetime:
    """An RFC 3339 instant with an offset (any offset; responses are always UTC)."""
    return _parsed(
        value, name, lambda v: parse_instant(v if isinstance(v, str) else ""), MUST_BE_INSTANT
    )


def date_value(value: object, name: str) -> date:
    return _parsed(value, name, lambda v: date.fromisoformat(str(v)), MUST_BE_DATE)


def _parsed(value: object, name: str, parse: Callable[[object], T], message: str) -> T:
    if value is None:
        raise validation_failed({name: REQUIRED})
    try:
        return parse(value)
    except ValueError:  # InvalidInstant is one too
        raise validation_failed({name: message}) from None


def path_id(request: web.Request, name: str = "id", what: str = "resource") -> uuid.UUID:
    """A UUID from the path; a malformed one names nothing, so it is a 404."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise not_found(what) from None


def query_uuid(request: web.Request, name: str) -> uuid.UUID | None:
    raw = request.query.get(name)
    return uuid_value(raw, name) if raw else None


def query_instant(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    return instant_value(raw, name) if raw else None


def query_date(request: web.Request, name: str, default: date) -> date:
    raw = request.query.get(name)
    return date_value(raw, name) if raw else default
