"""Request plumbing of the telerehab handlers: which transaction a request runs in (tenant,
platform for global content, anonymous for a superadmin's reads), the language of content, and
the web kit (server/web/) under the names the handlers use. Domain errors are not mapped here:
they travel as typed errors to the edge (server/errors.py).

Global content (organization_id NULL) is written only by a superadmin, on the platform path; the
dual-scope row-level security policies keep every tenant transaction from writing it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
from aiohttp import web

from server.errors import ApiError, validation_failed
from server.http import audit_actor
from server.middleware import principal
from server.resources import DB_KEY
from server.web.db_errors import db_errors as mapped_errors
from server.web.paging import (
    Page,
    cursor_instant,
    cursor_uuid,
    instant_id_after,
    page_of,
    page_response,
)
from server.web.params import date_value as body_date
from server.web.params import instant_value as body_instant
from server.web.params import query_date
from server.work import member
from storage.audit import AuditActor
from storage.telerehab import organization_language
from storage.types import Principal, Role

__all__ = [
    "Page", "Work", "acts_globally", "body_date", "body_instant", "cursor_instant", "cursor_uuid",
    "instant_id_after", "language", "mapped_errors", "page_of", "page_response", "query_date",
    "query_language", "reader", "tenant", "writer",
]  # fmt: skip

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
    who, org_id = member(request)
    async with mapped_errors(), request.app[DB_KEY].tenant(org_id) as conn:
        yield Work(conn, who, org_id, audit_actor(request, who))


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


# --- input ---------------------------------------------------------------------------------


def query_language(request: web.Request) -> str | None:
    raw = request.query.get("lang")
    if raw is None or raw == "":
        return None
    if not _LANG.match(raw):
        raise validation_failed({"lang": "must be a language code like 'en' or 'pt-BR'"})
    return raw


async def language(request: web.Request) -> str | None:
    """`?lang=`, else the organization's language (None for a principal without one)."""
    return query_language(request) or await organization_language()
