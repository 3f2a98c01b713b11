"""The audit log: one row per mutation, written in the mutation's own transaction.

The diff holds only the fields that changed, with sensitive values masked; the application role
can insert and read audit rows but never update or delete them (see the tenancy migration).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

MASKED = "***"
SENSITIVE_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "token",
        "token_hash",
        "refresh_token",
        "secret",
        "hold_token",
        "email",
        "phone",
        "date_of_birth",
        "contact",
        "first_name",
        "last_name",
        "note",
        "address",
        # Keyed search digests of e-mail and phone (storage/sealed.py): equal values match.
        "email_bidx",
        "phone_bidx",
    }
)


# Bookkeeping that changes with every write; the audit row's own time already says when.
UNTRACKED_FIELDS = frozenset({"updated_at"})


@dataclass(frozen=True, slots=True)
class AuditActor:
    """Who did it and from where; built once per request."""

    user_id: uuid.UUID | None
    role: str | None
    request_id: str | None = None
    ip: str | None = None


SYSTEM = AuditActor(user_id=None, role="system")


def diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Changed fields as {field: {"before": x, "after": y}}, sensitive values masked."""
    before, after = before or {}, after or {}
    out: dict[str, dict[str, Any]] = {}
    for key in sorted((set(before) | set(after)) - UNTRACKED_FIELDS):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key in SENSITIVE_FIELDS:
            old = MASKED if old is not None else None
            new = MASKED if new is not None else None
        out[key] = {"before": _plain(old), "after": _plain(new)}
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


_INSERT = """INSERT INTO audit_log (organization_id, actor_user_id, actor_role, action, entity,
                                    entity_id, diff, request_id, ip)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::inet)"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit row (`record_many`)."""

    actor: AuditActor
    organization_id: uuid.UUID | None
    action: str
    entity: str
    entity_id: object
    before: Mapping[str, Any] | None = None
    after: Mapping[str, Any] | None = None

    def args(self) -> tuple[Any, ...]:
        return (
            self.organization_id,
            self.actor.user_id,
            self.actor.role,
            self.action,
            self.entity,
            None if self.entity_id is None else str(self.entity_id),
            diff(self.before, self.after),
            self.actor.request_id,
            self.actor.ip,
        )


async def record(
    conn: asyncpg.Connection,
    *,
    actor: AuditActor,
    organization_id: uuid.UUID | None,
    action: str,
    entity: str,
    entity_id: object,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    entry = Entry(actor, organization_id, action, entity, entity_id, before, after)
    await conn.execute(_INSERT, *entry.args())


async def record_many(conn: asyncpg.Connection, entries: Sequence[Entry]) -> None:
    """Many rows in one round trip (asyncpg pipelines `executemany`): a batch's bookings."""
    if entries:
        await conn.executemany(_INSERT, [e.args() for e in entries])


async def record_read(
    conn: asyncpg.Connection,
    *,
    actor: AuditActor,
    organization_id: uuid.UUID | None,
    patient_id: uuid.UUID,
    entity: str,
    entity_id: object,
) -> None:
    """A read of a patient's clinical records (action `read`), tagged with the patient so an
    admin can list who looked at them (GET /v1/patients/{id}/access-log)."""
    await conn.execute(
        """INSERT INTO audit_log (organization_id, actor_user_id, actor_role, action, entity,
                                  entity_id, patient_id, request_id, ip)
           VALUES ($1, $2, $3, 'read', $4, $5, $6, $7, $8::inet)""",
        organization_id,
        actor.user_id,
        actor.role,
        entity,
        None if entity_id is None else str(entity_id),
        patient_id,
        actor.request_id,
        actor.ip,
    )
