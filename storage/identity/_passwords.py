"""Password changes and resets. The application role never writes `users`: each change goes
through a SECURITY DEFINER function of the sessions-and-resets migration, which also ends the
account's other sign-ins (revokes their refresh tokens) in the same statement. Those calls are
SQL; only the demo's own reset, on the platform path, is a Piccolo update.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from piccolo.query.functions.string import Lower
from piccolo.querystring import QueryString

from storage.orm import first, rows
from storage.tables import Memberships, Users


@dataclass(frozen=True, slots=True)
class PasswordChanged:
    """The account whose password was set, and the sessions (refresh-token families) that the
    change revoked."""

    user_id: uuid.UUID
    sessions: frozenset[uuid.UUID]


def _changed(records: Sequence[asyncpg.Record]) -> PasswordChanged | None:
    # The functions answer no rows when nothing changed; else one row naming the account, then
    # one per revoked refresh token.
    if not records:
        return None
    sessions = frozenset(r["r_family_id"] for r in records if r["r_family_id"] is not None)
    return PasswordChanged(records[0]["r_user_id"], sessions)


async def change_password(
    conn: asyncpg.Connection,
    user_id: uuid.UUID,
    old_hash: str,
    new_hash: str,
    keep_session: uuid.UUID | None,
) -> PasswordChanged | None:
    """Set `new_hash` if the stored hash is still `old_hash` (the one the caller verified);
    every session but `keep_session` ends. None: the password changed meanwhile."""
    records = await conn.fetch(
        "SELECT * FROM identity_change_password($1, $2, $3, $4)",
        user_id,
        old_hash,
        new_hash,
        keep_session,
    )
    return _changed(records)


async def rehash_password(
    conn: asyncpg.Connection, user_id: uuid.UUID, old_hash: str, new_hash: str
) -> bool:
    """Replace a hash made with older parameters by `new_hash` (same password), unless the
    password changed in between. Sessions stay."""
    replaced: bool = await conn.fetchval(
        "SELECT identity_rehash_password($1, $2, $3)", user_id, old_hash, new_hash
    )
    return replaced


async def start_reset(
    conn: asyncpg.Connection, email: str, token_hash: bytes, ttl_s: int
) -> str | None:
    """Store a reset token (its digest) valid for `ttl_s`, retiring the account's older ones;
    returns the account's address, or None when no account has this e-mail."""
    address: str | None = await conn.fetchval(
        "SELECT identity_reset_start($1, $2, $3)", email, token_hash, ttl_s
    )
    return address


async def finish_reset(
    conn: asyncpg.Connection, token_hash: bytes, new_hash: str
) -> PasswordChanged | None:
    """Spend an unused, unexpired reset token: the password becomes `new_hash` and every session
    of the account ends. None: the token is unknown, used or expired."""
    records = await conn.fetch("SELECT * FROM identity_reset_finish($1, $2)", token_hash, new_hash)
    return _changed(records)


async def replace_password(email: str, new_hash: str) -> tuple[uuid.UUID, uuid.UUID | None] | None:
    """Platform path only (the demo's way back in): set the password of the account with this
    e-mail, unless it is a superadmin. Returns the account and one organization it belongs to
    (None: none), or None when there is no such account. Sessions stay."""
    updated = await rows(
        Users.update({Users.password_hash: new_hash, Users.updated_at: datetime.now(UTC)})
        .where(Lower(Users.email) == Lower(QueryString("{}", email)))  # as the unique index
        .where(Users.is_superadmin.eq(False))
        .returning(Users.id)
    )
    if not updated:
        return None
    user_id: uuid.UUID = updated[0]["id"]
    membership = await first(
        Memberships.select(Memberships.organization_id)
        .where(Memberships.user_id == user_id)
        .first()
    )
    return user_id, None if membership is None else membership["organization_id"]
