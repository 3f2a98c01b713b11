"""Request plumbing of the identity handlers: audit actor, ids from the path, time formats and
cursor paging (PROTOCOL.md: `?limit=&cursor=` -> `{"data", "next_cursor"}`)."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from server.errors import validation_failed

DEFAULT_LIMIT, MAX_LIMIT = 50, 200


def query_uuid(request: web.Request, name: str) -> uuid.UUID | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise validation_failed({name: "must be a UUID"}) from None


def query_instant(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise validation_failed({name: "must be an RFC 3339 date-time"}) from None
    if value.utcoffset() is None:
        raise validation_failed({name: "must carry a UTC offset (e.g. Z or +02:00)"})
    return value


@dataclass(frozen=True, slots=True)
class Page:
    """`after`: the (created_at, id) sort key of the previous page's last row."""

    limit: int
    after: tuple[datetime, uuid.UUID] | None


def page_of(request: web.Request) -> Page:
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise validation_failed({"limit": f"must be an integer 1..{MAX_LIMIT}"})
    cursor = request.query.get("cursor")
    return Page(int(raw_limit), _decode_cursor(cursor) if cursor else None)


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, key = orjson.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * 4))
        return datetime.fromisoformat(at), uuid.UUID(key)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise validation_failed({"cursor": "is not a cursor this endpoint issued"}) from None


def _encode_cursor(at: datetime, key: uuid.UUID) -> str:
    # Full precision: a cursor rounded to the second would skip or repeat rows of that second.
    raw = orjson.dumps([at.isoformat(), str(key)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_response(
    rows: Sequence[Any],
    page: Page,
    render: Callable[[Any], dict[str, Any]],
    key: Callable[[Any], tuple[datetime, uuid.UUID]],
) -> dict[str, Any]:
    """`rows` were fetched with LIMIT page.limit + 1; the extra row says a next page exists."""
    shown = rows[: page.limit]
    more = len(rows) > page.limit and shown
    return {
        "data": [render(r) for r in shown],
        "next_cursor": _encode_cursor(*key(shown[-1])) if more else None,
    }
