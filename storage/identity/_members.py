"""Memberships: an account's role in one organization, with its patient or specialist link.

Every function runs in a tenant transaction (`Database.tenant(org)`): row-level security shows
that organization's memberships only, and its members' accounts. A member is read as one row of
the membership joined with its account; that join stays SQL (the query builder knows no
relation between the two tables), everything else is Piccolo.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from storage.identity._errors import AlreadyMember, LinkRefused
from storage.orm import first
from storage.tables import Memberships, Patients, Specialists

Row = dict[str, Any]
# The (created_at, user_id) sort key of a page's last row: the next page starts after it.
Cursor = tuple[datetime, uuid.UUID]

_MEMBER = """SELECT u.id, u.email, u.display_name, m.role, m.patient_id, m.specialist_id,
       m.disabled_at, m.sessions_valid_after, m.created_at, m.updated_at
  FROM memberships m JOIN users u ON u.id = m.user_id"""
EDITABLE = ("role", "patient_id", "specialist_id", "disabled_at", "sessions_valid_after")


async def get_member(
    conn: asyncpg.Connection, user_id: uuid.UUID, *, for_update: bool = False
) -> Row | None:
    """The member (account and membership fields), or None. `for_update` locks the membership
    row for the rest of the transaction."""
    lock = " FOR UPDATE OF m" if for_update else ""
    record = await conn.fetchrow(f"{_MEMBER} WHERE m.user_id = $1{lock}", user_id)
    return None if record is None else dict(record)


async def list_members(conn: asyncpg.Connection, limit: int, after: Cursor | None) -> list[Row]:
    """The organization's members, oldest membership first; `limit` rows at most."""
    if after is None:
        records = await conn.fetch(f"{_MEMBER} ORDER BY m.created_at, m.user_id LIMIT $1", limit)
    else:
        records = await conn.fetch(
            f"""{_MEMBER} WHERE (m.created_at, m.user_id) > ($1, $2)
                ORDER BY m.created_at, m.user_id LIMIT $3""",
            *after,
            limit,
        )
    return [dict(r) for r in records]


async def add_member(
    conn: asyncpg.Connection,
    org_id: uuid.UUID,
    *,
    email: str,
    password_hash: str | None,
    display_name: str,
    role: str,
    patient_id: uuid.UUID | None,
    specialist_id: uuid.UUID | None,
) -> Row:
    """The account (created, or reused untouched when the e-mail exists) joins organization
    `org_id`, the transaction's own. Raises AlreadyMember, LinkRefused."""
    # SECURITY DEFINER: the application role never writes `users` itself, and an existing
    # account (perhaps another tenant's) is reused without learning or setting its password.
    user_id: uuid.UUID = await conn.fetchval(
        "SELECT identity_ensure_user($1, $2, $3)", email, password_hash, display_name
    )
    try:
        await insert_membership(
            org_id, user_id, role, patient_id=patient_id, specialist_id=specialist_id
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyMember() from None
    member = await get_member(conn, user_id)
    assert member is not None
    return member


async def insert_membership(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    *,
    patient_id: uuid.UUID | None = None,
    specialist_id: uuid.UUID | None = None,
) -> None:
    """A membership row as it is (the demo seed; `add_member` for everything else). Raises
    LinkRefused."""
    now = datetime.now(UTC)
    membership = Memberships(
        organization_id=org_id,
        user_id=user_id,
        role=role,
        patient_id=patient_id,
        specialist_id=specialist_id,
        created_at=now,
        updated_at=now,
    )
    try:
        await Memberships.insert(membership)
    except asyncpg.ForeignKeyViolationError:
        raise LinkRefused() from None


async def missing_links(links: Mapping[str, uuid.UUID | None]) -> list[str]:
    """The links (`patient_id`, `specialist_id`) that name no live row of the current
    organization: row-level security hides other tenants' rows, so another clinic's patient is
    simply not found. The composite foreign keys on memberships are the proof behind this."""
    patient_id, specialist_id = links.get("patient_id"), links.get("specialist_id")
    missing = []
    if patient_id is not None and not await Patients.exists().where(
        (Patients.id == patient_id) & Patients.deleted_at.is_null()
    ):
        missing.append("patient_id")
    if specialist_id is not None and not await Specialists.exists().where(
        (Specialists.id == specialist_id) & Specialists.deleted_at.is_null()
    ):
        missing.append("specialist_id")
    return missing


async def update_member(
    conn: asyncpg.Connection, user_id: uuid.UUID, changes: Mapping[str, Any]
) -> Row:
    """Apply the EDITABLE fields of `changes`; returns the member as it now is. Raises
    LinkRefused."""
    values: dict[Any, Any] = {name: changes[name] for name in EDITABLE if name in changes}
    values[Memberships.updated_at] = datetime.now(UTC)
    try:
        await Memberships.update(values).where(Memberships.user_id == user_id)
    except asyncpg.ForeignKeyViolationError:
        raise LinkRefused() from None
    member = await get_member(conn, user_id)
    assert member is not None
    return member


async def delete_member(user_id: uuid.UUID) -> None:
    """The membership in the current organization; the account stays (other organizations)."""
    await Memberships.delete().where(Memberships.user_id == user_id)


async def membership_state(user_id: uuid.UUID) -> Row | None:
    """disabled_at and sessions_valid_after of the member, or None: what the session gate needs
    to judge an access token."""
    query = Memberships.select(Memberships.disabled_at, Memberships.sessions_valid_after).where(
        Memberships.user_id == user_id
    )
    return await first(query.first())
