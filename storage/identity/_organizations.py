"""Organizations (tenants). Creating and listing them is platform work (`Database.platform()`);
reading and editing one runs in the caller's transaction, so under a tenant context another
organization's id is simply not found."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from storage.identity._errors import SlugTaken
from storage.orm import first, rows
from storage.tables import Organizations

Row = dict[str, Any]
# The (created_at, id) sort key of a page's last row: the next page starts after it.
Cursor = tuple[datetime, uuid.UUID]

_COLUMNS = (
    Organizations.id,
    Organizations.name,
    Organizations.slug,
    Organizations.timezone,
    Organizations.language,
    Organizations.telerehab_requires_plan,
    Organizations.created_at,
    Organizations.updated_at,
)
EDITABLE = ("name", "slug", "timezone", "language", "telerehab_requires_plan")


async def create_organization(
    *, name: str, slug: str, timezone: str = "UTC", language: str = "en"
) -> Row:
    """Platform path: a new tenant. Raises SlugTaken."""
    now = datetime.now(UTC)
    organization = Organizations(
        name=name, slug=slug, timezone=timezone, language=language, created_at=now, updated_at=now
    )
    query = Organizations.insert(organization).returning(*_COLUMNS)
    try:
        (created,) = await rows(query)
    except asyncpg.UniqueViolationError:
        raise SlugTaken() from None
    return created


async def get_organization(org_id: uuid.UUID, *, for_update: bool = False) -> Row | None:
    query = Organizations.select(*_COLUMNS).where(Organizations.id == org_id)
    if for_update:
        query = query.lock_rows("UPDATE")
    return await first(query.first())


async def list_organizations(limit: int, after: Cursor | None) -> list[Row]:
    """Platform path: every tenant, oldest first; `limit` rows at most."""
    query = Organizations.select(*_COLUMNS)
    if after is not None:
        at, key = after
        query = query.where(
            (Organizations.created_at > at)
            | ((Organizations.created_at == at) & (Organizations.id > key))
        )
    return await rows(query.order_by(Organizations.created_at, Organizations.id).limit(limit))


async def update_organization(org_id: uuid.UUID, changes: Mapping[str, Any]) -> Row:
    """Apply the EDITABLE fields of `changes`; returns the organization as it now is. Raises
    SlugTaken."""
    values: dict[Any, Any] = {name: changes[name] for name in EDITABLE if name in changes}
    values[Organizations.updated_at] = datetime.now(UTC)
    query = Organizations.update(values).where(Organizations.id == org_id).returning(*_COLUMNS)
    try:
        (updated,) = await rows(query)
    except asyncpg.UniqueViolationError:
        raise SlugTaken() from None
    return updated


async def organization_ids() -> list[uuid.UUID]:
    """Platform path: the id of every tenant (the stream consumers read each one's stream)."""
    found = await rows(Organizations.select(Organizations.id).order_by(Organizations.id))
    return [row["id"] for row in found]
