"""SQL of the identity domain. Every function takes the connection of a transaction that the
caller opened: `Database.tenant(org)` for an organization's rows (row-level security applies),
`Database.platform()` only where a docstring says so."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from server.identity._web import Page

Row = dict[str, Any]

ORG_COLUMNS = "id, name, slug, timezone, language, created_at, updated_at"
MEMBER_COLUMNS = """u.id, u.email, u.display_name, m.role, m.patient_id, m.specialist_id,
  m.disabled_at, m.sessions_valid_after, m.created_at, m.updated_at"""
MEMBER_FROM = "memberships m JOIN users u ON u.id = m.user_id"


def _row(record: asyncpg.Record | None) -> Row | None:
    return None if record is None else dict(record)


# --- organizations ---------------------------------------------------------------------------


async def insert_organization(conn: asyncpg.Connection, fields: Mapping[str, Any]) -> Row:
    """Platform path: a new tenant."""
    record = await conn.fetchrow(
        f"""INSERT INTO organizations (name, slug, timezone, language)
            VALUES ($1, $2, $3, $4) RETURNING {ORG_COLUMNS}""",
        fields["name"],
        fields["slug"],
        fields.get("timezone", "UTC"),
        fields.get("language", "en"),
    )
    return dict(record)


async def get_organization(
    conn: asyncpg.Connection, org_id: uuid.UUID, *, for_update: bool = False
) -> Row | None:
    lock = " FOR UPDATE" if for_update else ""
    return _row(
        await conn.fetchrow(f"SELECT {ORG_COLUMNS} FROM organizations WHERE id = $1{lock}", org_id)
    )


async def list_organizations(conn: asyncpg.Connection, page: Page) -> list[Row]:
    """Platform path: every tenant, oldest first."""
    where, args = _after(page, "created_at", "id")
    records = await conn.fetch(
        f"""SELECT {ORG_COLUMNS} FROM organizations {where}
            ORDER BY created_at, id LIMIT ${len(args) + 1}""",
        *args,
        page.limit + 1,
    )
    return [dict(r) for r in records]


def _after(page: Page, at: str, key: str) -> tuple[str, list[Any]]:
    """The WHERE clause continuing an ascending (at, key) listing after the page's cursor."""
    if page.after is None:
        return "", []
    return f"WHERE ({at}, {key}) > ($1, $2)", list(page.after)


async def update_organization(
    conn: asyncpg.Connection, org_id: uuid.UUID, changes: Mapping[str, Any]
) -> Row:
    columns = [c for c in ("name", "slug", "timezone", "language") if c in changes]
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
    record = await conn.fetchrow(
        f"""UPDATE organizations SET {sets}, updated_at = now() WHERE id = $1
            RETURNING {ORG_COLUMNS}""",
        org_id,
        *(changes[c] for c in columns),
    )
    return dict(record)


# --- users and memberships (tenant) ----------------------------------------------------------


async def get_member(
    conn: asyncpg.Connection, user_id: uuid.UUID, *, for_update: bool = False
) -> Row | None:
    lock = " FOR UPDATE OF m" if for_update else ""
    return _row(
        await conn.fetchrow(
            f"SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} WHERE m.user_id = $1{lock}", user_id
        )
    )


async def list_members(conn: asyncpg.Connection, page: Page) -> list[Row]:
    where, args = _after(page, "m.created_at", "m.user_id")
    records = await conn.fetch(
        f"""SELECT {MEMBER_COLUMNS} FROM {MEMBER_FROM} {where}
            ORDER BY m.created_at, m.user_id LIMIT ${len(args) + 1}""",
        *args,
        page.limit + 1,
    )
    return [dict(r) for r in records]


async def add_member(
    conn: asyncpg.Connection,
    *,
    email: str,
    password_hash: str | None,
    display_name: str,
    role: str,
    patient_id: uuid.UUID | None,
    specialist_id: uuid.UUID | None,
) -> Row:
    """The account (created, or reused untouched when the e-mail exists) joins the current
    organization. Raises asyncpg.UniqueViolationError when it already is a member."""
    user_id = await conn.fetchval(
        "SELECT identity_ensure_user($1, $2, $3)", email, password_hash, display_name
    )
    await conn.execute(
        """INSERT INTO memberships (organization_id, user_id, role, patient_id, specialist_id)
           VALUES (app_org_id(), $1, $2, $3, $4)""",
        user_id,
        role,
        patient_id,
        specialist_id,
    )
    member = await get_member(conn, user_id)
    assert member is not None
    return member


_LINKED = {"patient_id": "patients", "specialist_id": "specialists"}


async def missing_links(
    conn: asyncpg.Connection, links: Mapping[str, uuid.UUID | None]
) -> list[str]:
    """The links (`patient_id`, `specialist_id`) that name no live row of the current
    organization: row-level security hides other tenants' rows, so another clinic's patient is
    simply not found. The composite foreign keys on memberships are the proof behind this."""
    missing = []
    for name, table in _LINKED.items():
        value = links.get(name)
        if value is not None and not await conn.fetchval(
            f"SELECT 1 FROM {table} WHERE id = $1 AND deleted_at IS NULL", value
        ):
            missing.append(name)
    return missing


async def update_member(
    conn: asyncpg.Connection, user_id: uuid.UUID, changes: Mapping[str, Any]
) -> Row:
    """Apply membership column changes; returns the member as it now is."""
    columns = [
        c
        for c in ("role", "patient_id", "specialist_id", "disabled_at", "sessions_valid_after")
        if c in changes
    ]
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=2))
    await conn.execute(
        f"UPDATE memberships SET {sets}, updated_at = now() WHERE user_id = $1",
        user_id,
        *(changes[c] for c in columns),
    )
    member = await get_member(conn, user_id)
    assert member is not None
    return member


async def revoke_member_sessions(conn: asyncpg.Connection, user_id: uuid.UUID) -> set[uuid.UUID]:
    """Revoke the member's live refresh tokens here; returns their sessions (families)."""
    records = await conn.fetch(
        """UPDATE refresh_tokens SET revoked_at = now()
           WHERE user_id = $1 AND revoked_at IS NULL RETURNING family_id""",
        user_id,
    )
    return {r["family_id"] for r in records}


async def delete_member(conn: asyncpg.Connection, user_id: uuid.UUID) -> None:
    """The membership in the current organization; the account stays (other organizations)."""
    await conn.execute("DELETE FROM memberships WHERE user_id = $1", user_id)


async def get_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> Row | None:
    """Tenant path: visible only when a member of the current organization. Platform path: any."""
    return _row(
        await conn.fetchrow(
            "SELECT id, email, display_name, is_superadmin, created_at FROM users WHERE id = $1",
            user_id,
        )
    )


async def login_candidates(conn: asyncpg.Connection, email: str) -> list[Row]:
    """The account with this e-mail and its enabled memberships (any connection)."""
    records = await conn.fetch("SELECT * FROM identity_login_candidates($1)", email)
    return [dict(r) for r in records]


# --- audit log -------------------------------------------------------------------------------

AUDIT_FILTERS = {
    "organization_id": "organization_id = ${}",
    "entity": "entity = ${}",
    "entity_id": "entity_id = ${}",
    "action": "action = ${}",
    "actor": "actor_user_id = ${}",
    "from": "created_at >= ${}",
    "to": "created_at < ${}",
}


async def list_audit(conn: asyncpg.Connection, filters: Mapping[str, Any], page: Page) -> list[Row]:
    """Newest first. In a tenant transaction only that organization's rows exist."""
    where: list[str] = []
    args: list[Any] = []
    for name, clause in AUDIT_FILTERS.items():
        if filters.get(name) is not None:
            args.append(filters[name])
            where.append(clause.format(len(args)))
    if page.after is not None:
        args.extend(page.after)
        where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(page.limit + 1)
    records = await conn.fetch(
        f"""SELECT id, organization_id, actor_user_id, actor_role, action, entity, entity_id,
                   diff, request_id, host(ip) AS ip, created_at
            FROM audit_log {"WHERE " + " AND ".join(where) if where else ""}
            ORDER BY created_at DESC, id DESC LIMIT ${len(args)}""",
        *args,
    )
    return [dict(r) for r in records]
