"""Cursor paging of every list endpoint (PROTOCOL.md): `?limit=&cursor=` ->
`{"data": [...], "next_cursor": "..." | null}`.

A cursor is the sort key of the previous page's last row, as a JSON array (instants in RFC 3339
at full precision, so no row of the same second is skipped or repeated), base64url without
padding. Clients treat it as opaque; an endpoint checks that it has the shape it issues."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
from aiohttp import web

from server.errors import validation_failed
from storage.jsonable import jsonable
from storage.rfc3339 import InvalidInstant, parse_instant

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
NOT_A_CURSOR = "is not a cursor this endpoint issued"

K = TypeVar("K")
InstantId = tuple[datetime, uuid.UUID]


@dataclass(frozen=True)  # no slots: a slotted frozen generic cannot be built through its alias
class Page(Generic[K]):
    """`limit` rows after `after`, the previous page's last sort key (None: the first page).
    Fetch `limit + 1` rows: the extra one says a next page exists."""

    limit: int
    after: K | None


def page_of(request: web.Request, key_size: int | None = None) -> Page[list[Any]]:
    """The page a request asks for; 422 for a bad limit, or a cursor that is not a JSON array
    (of `key_size` values, when given)."""
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise validation_failed({"limit": f"must be an integer 1..{MAX_LIMIT}"})
    cursor = request.query.get("cursor")
    after = _decode(cursor) if cursor else None
    if after is not None and key_size is not None and len(after) != key_size:
        raise _bad_cursor()
    return Page(int(raw_limit), after)


def instant_id_page(request: web.Request) -> Page[InstantId]:
    """A page of a list sorted by (instant, id), with its cursor decoded."""
    page = page_of(request, 2)
    return Page(page.limit, instant_id_after(page))


def instant_id_after(page: Page[list[Any]]) -> InstantId | None:
    """The (instant, id) a page sorted by them continues after, from its cursor."""
    if page.after is None:
        return None
    return cursor_instant(page.after[0]), cursor_uuid(page.after[1])


def cursor_key(page: Page[list[Any]], n: int) -> list[Any]:
    """The previous page's last sort key as `n` values, or 422 for a cursor of another shape."""
    if page.after is None or len(page.after) != n:
        raise _bad_cursor()
    return page.after


def cursor_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise _bad_cursor() from None


def cursor_instant(value: Any) -> datetime:
    try:
        return parse_instant(str(value))
    except InvalidInstant:
        raise _bad_cursor() from None


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(jsonable(list(key)))).decode().rstrip("=")


def page_response(
    rows: Sequence[Any],
    page: Page[Any],
    render: Callable[[Any], Any],
    key: Callable[[Any], Sequence[Any]],
) -> dict[str, Any]:
    """`rows` were fetched with LIMIT page.limit + 1; the extra row says a next page exists."""
    shown = rows[: page.limit]
    more = len(rows) > page.limit and len(shown) > 0
    return {
        "data": [render(r) for r in shown],
        "next_cursor": encode_cursor(key(shown[-1])) if more else None,
    }


def _decode(cursor: str) -> list[Any]:
    try:
        after = orjson.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * 4))
    except ValueError:  # bad base64 (binascii.Error), bad UTF-8 or bad JSON
        raise _bad_cursor() from None
    if not isinstance(after, list):
        raise _bad_cursor()
    return after


def _bad_cursor() -> Exception:
    return validation_failed({"cursor": NOT_A_CURSOR})
