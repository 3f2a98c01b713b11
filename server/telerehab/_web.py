"""Request plumbing of the telerehab handlers: which transaction a request runs in (tenant,
platform for global content, anonymous for a superadmin's reads), domain errors as HTTP answers,
paging, and JSON representation of dates and ids.

Global content (organization_id NULL) is written only by a superadmin, on the platform path; the
dual-scope row-level security policies keep every tenant transaction from writing it.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from server.errors import ApiError, not_found, validation_failed
from server.http import audit_actor, jsonable
from server.middleware import principal
from server.resources import DB_KEY
from storage.audit import AuditActor
from storage.telerehab import Conflict, Invalid, InvalidTransition, NotFound, ReadOnly
from storage.types import Principal, Role

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
_LANG = re.compile(r"^[a-z]{2}(-[A-Za-z]{2})?$")


@dataclass(frozen=True, slots=True)
class Work:
    """One transaction of one request. `org_id` None: the platform path (global content)."""

    conn: asyncpg.Connection
    who: Principal
    org_id: uuid.UUID | None
    actor: AuditActor


@asynccontextmanager
async def tenant(request: web.Request) -> AsyncIterator[Work]:
    """A transaction in the caller's organization (403 for a principal without one)."""
    who = principal(request)
    if who.org_id is None:
        raise ApiError(403, "forbidden", "this endpoint needs an organization context")
    async with mapped_errors(), request.app[DB_KEY].tenant(who.org_id) as conn:
        yield Work(conn, who, who.org_id, audit_actor(request, who))


@asynccontextmanager
async def reader(request: web.Request) -> AsyncIterator[Work]:
    """For reads of dual-scope content: the caller's organization, or for a principal without
    one (superadmin) an anonymous transaction, in which only global rows are visible."""
    who = principal(request)
    db = request.app[DB_KEY]
    async with mapped_errors():
        if who.org_id is not None:
            async with db.tenant(who.org_id) as conn:
                yield Work(conn, who, who.org_id, audit_actor(request, who))
        else:
            async with db.anonymous() as conn:
                yield Work(conn, who, None, audit_actor(request, who))


@asynccontextmanager
async def writer(request: web.Request, *, global_scope: bool) -> AsyncIterator[Work]:
    """For writes of dual-scope content. Global rows: superadmin only, on the platform path.
    Organization rows: the caller's tenant transaction."""
    who = principal(request)
    if global_scope:
        if who.role is not Role.SUPERADMIN:
            raise ApiError(403, "forbidden", "only a superadmin may change global content")
        async with mapped_errors(), request.app[DB_KEY].platform() as conn:
            yield Work(conn, who, None, audit_actor(request, who))
        return
    async with tenant(request) as work:
        yield work


def acts_globally(who: Principal) -> bool:
    """A superadmin writes global content; every other role writes its organization's."""
    return who.role is Role.SUPERADMIN


@asynccontextmanager
async def mapped_errors() -> AsyncIterator[None]:
    try:
        yield
    except NotFound as exc:
        raise not_found(exc.entity) from None
    except Invalid as exc:
        raise validation_failed(exc.fields) from None
    except ReadOnly as exc:
        raise ApiError(403, "read_only", str(exc), {"entity": exc.entity}) from None
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    except InvalidTransition as exc:
        raise ApiError(
            409, "invalid_transition", str(exc),
            {"status": exc.current, "action": exc.action, "allowed": exc.allowed},
        ) from None  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise ApiError(409, "conflict", "a resource with these values already exists") from None
    except (asyncpg.ForeignKeyViolationError, asyncpg.CheckViolationError):
        raise validation_failed({"$": "references or values the database refuses"}) from None


# --- input ---------------------------------------------------------------------------------


def query_date(request: web.Request, name: str, default: date) -> date:
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise validation_failed({name: "must be a date (YYYY-MM-DD)"}) from None


def body_date(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise validation_failed({name: "must be a date (YYYY-MM-DD)"}) from None


def body_instant(value: Any, name: str) -> datetime:
    """An RFC 3339 instant with an offset; 422 otherwise."""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise validation_failed({name: "must be an RFC 3339 date-time"}) from None
    if parsed.utcoffset() is None:
        raise validation_failed({name: "must carry a UTC offset (e.g. Z or +02:00)"})
    return parsed


def query_language(request: web.Request) -> str | None:
    raw = request.query.get("lang")
    if raw is None or raw == "":
        return None
    if not _LANG.match(raw):
        raise validation_failed({"lang": "must be a language code like 'en' or 'pt-BR'"})
    return raw


async def language(request: web.Request, conn: asyncpg.Connection) -> str | None:
    """`?lang=`, else the organization's language (None for a principal without one)."""
    chosen = query_language(request)
    if chosen is not None:
        return chosen
    found: str | None = await conn.fetchval(
        "SELECT language FROM organizations WHERE id = app_org_id()"
    )
    return found


# --- paging (PROTOCOL.md: ?limit=&cursor= -> {"data", "next_cursor"}) ----------------------


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    after: list[Any] | None


def page_of(request: web.Request, key_size: int) -> Page:
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise validation_failed({"limit": f"must be an integer 1..{MAX_LIMIT}"})
    cursor = request.query.get("cursor")
    after = None
    if cursor:
        try:
            after = orjson.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * 4))
        except (ValueError, orjson.JSONDecodeError):
            after = None
        if not isinstance(after, list) or len(after) != key_size:
            raise validation_failed({"cursor": "is not a cursor this endpoint issued"})
    return Page(int(raw_limit), after)


def cursor_uuid(value: Any) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise validation_failed({"cursor": "is not a cursor this endpoint issued"}) from None


def cursor_instant(value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise validation_failed({"cursor": "is not a cursor this endpoint issued"}) from None


def instant_id_after(page: Page) -> tuple[datetime, uuid.UUID] | None:
    """The (instant, id) a newest-first page continues after, from its cursor."""
    if page.after is None:
        return None
    return cursor_instant(page.after[0]), cursor_uuid(page.after[1])


def page_response(
    items: Sequence[Any], page: Page, render: Callable[[Any], Any], key: Callable[[Any], Any]
) -> dict[str, Any]:
    """`items` were fetched with LIMIT page.limit + 1; the extra one says a next page exists."""
    more = len(items) > page.limit
    shown = items[: page.limit]
    cursor = None
    if more and shown:
        raw = orjson.dumps(jsonable(list(key(shown[-1]))))
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return {"data": [render(item) for item in shown], "next_cursor": cursor}


# --- output --------------------------------------------------------------------------------
