"""Organizations (tenants). Creating and listing them is platform work (superadmin, platform
path); reading and editing one goes through the caller's own organization context, so another
tenant's id is simply not found. Superadmin reaches any organization on the platform path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from server.errors import not_found
from server.http import iso
from server.identity._backends import Backends
from server.identity._web import Page
from storage import audit, identity
from storage.audit import AuditActor
from storage.types import Principal, Role

Row = dict[str, Any]


def render(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "slug": row["slug"],
        "timezone": row["timezone"],
        "language": row["language"],
        "telerehab_requires_plan": row["telerehab_requires_plan"],
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
    }


class Organizations:
    def __init__(self, backends: Backends) -> None:
        self._backends = backends

    @asynccontextmanager
    async def _as(self, who: Principal) -> AsyncIterator[asyncpg.Connection]:
        db = self._backends.db()
        if who.role is Role.SUPERADMIN:
            async with db.platform() as conn:
                yield conn
        elif who.org_id is not None:
            async with db.tenant(who.org_id) as conn:
                yield conn
        else:
            raise not_found("organization")

    async def create(self, actor: AuditActor, body: dict[str, Any]) -> Row:
        async with self._backends.db().platform() as conn:
            org = await identity.create_organization(
                name=body["name"],
                slug=body["slug"],
                timezone=body.get("timezone", "UTC"),
                language=body.get("language", "en"),
            )
            await audit.record(
                conn,
                actor=actor,
                organization_id=org["id"],
                action="organization.create",
                entity="organization",
                entity_id=org["id"],
                after=_snapshot(org),
            )
        return org

    async def list(self, page: Page) -> list[Row]:
        async with self._backends.db().platform():
            return await identity.list_organizations(page.limit + 1, page.after)

    async def get(self, who: Principal, org_id: uuid.UUID) -> Row:
        async with self._as(who):
            org = await identity.get_organization(org_id)
        if org is None:
            raise not_found("organization")
        return org

    async def update(
        self, who: Principal, actor: AuditActor, org_id: uuid.UUID, changes: dict[str, Any]
    ) -> Row:
        async with self._as(who) as conn:
            before = await identity.get_organization(org_id, for_update=True)
            if before is None:
                raise not_found("organization")
            changes = {k: v for k, v in changes.items() if before[k] != v}
            if not changes:
                return before
            after = await identity.update_organization(org_id, changes)
            await audit.record(
                conn,
                actor=actor,
                organization_id=org_id,
                action="organization.update",
                entity="organization",
                entity_id=org_id,
                before=_snapshot(before),
                after=_snapshot(after),
            )
        return after

    async def exists(self, org_id: uuid.UUID) -> bool:
        """Platform path."""
        async with self._backends.db().platform():
            return await identity.get_organization(org_id) is not None


def _snapshot(row: Row) -> Row:
    return {k: row[k] for k in ("name", "slug", "timezone", "language", "telerehab_requires_plan")}
