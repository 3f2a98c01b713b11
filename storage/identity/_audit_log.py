"""Reading the audit log (storage/audit.py writes it): newest first, filtered, paged. In a tenant
transaction only that organization's rows exist; on the platform path every row does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from piccolo.query.functions.base import Function

from storage.orm import rows
from storage.tables import AuditLog

Row = dict[str, Any]
# The (created_at, id) sort key of a page's last row: the next page holds older rows.
Cursor = tuple[datetime, uuid.UUID]


class _Host(Function):
    """The address of an `inet` as text, without its mask."""

    function_name = "HOST"


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Each field set narrows the listing to rows equal to it; `since` is inclusive, `until`
    exclusive."""

    organization_id: uuid.UUID | None = None
    entity: str | None = None
    entity_id: str | None = None
    action: str | None = None
    actor: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_audit(where: AuditFilter, limit: int, after: Cursor | None) -> list[Row]:
    """id, organization_id, actor_user_id, actor_role, action, entity, entity_id, diff,
    request_id, ip (text), created_at; `limit` rows at most."""
    query = AuditLog.select(
        AuditLog.id,
        AuditLog.organization_id,
        AuditLog.actor_user_id,
        AuditLog.actor_role,
        AuditLog.action,
        AuditLog.entity,
        AuditLog.entity_id,
        AuditLog.diff,
        AuditLog.request_id,
        _Host(AuditLog.ip, alias="ip"),
        AuditLog.created_at,
    )
    equal = {
        AuditLog.organization_id: where.organization_id,
        AuditLog.entity: where.entity,
        AuditLog.entity_id: where.entity_id,
        AuditLog.action: where.action,
        AuditLog.actor_user_id: where.actor,
    }
    for column, value in equal.items():
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(AuditLog.created_at >= where.since)
    if where.until is not None:
        query = query.where(AuditLog.created_at < where.until)
    if after is not None:
        at, key = after
        query = query.where(
            (AuditLog.created_at < at) | ((AuditLog.created_at == at) & (AuditLog.id < key))
        )
    newest_first = query.order_by(AuditLog.created_at, AuditLog.id, ascending=False)
    return await rows(newest_first.limit(limit))
