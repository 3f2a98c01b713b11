"""Accounts (`users`): platform-level people, who may belong to several organizations.

The application role never writes `users` (identity migration): accounts are created through
`identity_ensure_user()` (storage/identity/_members.py), and passwords change through the
functions of storage/identity/_passwords.py. Under a tenant context an account is visible only
while it is a member of that organization; on the platform path every account is.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from storage.orm import first
from storage.tables import Users

Row = dict[str, Any]


async def get_account(user_id: uuid.UUID) -> Row | None:
    """id, email, display_name, is_superadmin, created_at."""
    query = Users.select(
        Users.id, Users.email, Users.display_name, Users.is_superadmin, Users.created_at
    ).where(Users.id == user_id)
    return await first(query.first())


async def account_exists(user_id: uuid.UUID) -> bool:
    found: bool = await Users.exists().where(Users.id == user_id)
    return found


async def create_account(email: str, password_hash: str | None, display_name: str) -> uuid.UUID:
    """Platform path only (the demo seed): a new account; the e-mail must be new."""
    now = datetime.now(UTC)
    account = Users(
        email=email,
        password_hash=password_hash,
        display_name=display_name,
        created_at=now,
        updated_at=now,
    )
    (created,) = await Users.insert(account).returning(Users.id)
    user_id: uuid.UUID = created["id"]
    return user_id


async def login_candidates(conn: asyncpg.Connection, email: str) -> list[Row]:
    """The account with this e-mail (case-insensitive) and its enabled memberships, earliest
    first: user_id, password_hash, is_superadmin, organization_id, role, patient_id,
    specialist_id. Sign-in comes before any organization is known, so this is a SECURITY
    DEFINER function that answers for one e-mail and lists nothing (any transaction)."""
    records = await conn.fetch("SELECT * FROM identity_login_candidates($1)", email)
    return [dict(r) for r in records]
