"""Sessions: rotating refresh tokens, stored only as digests, grouped in families (one family
per sign-in; its id is the session id access tokens carry).

An organization's tokens live in its tenant context (row-level security); a superadmin's
(organization NULL) only on the platform path.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from storage.orm import first, rows
from storage.tables import RefreshTokens

Row = dict[str, Any]


async def store_refresh_token(
    *,
    org_id: uuid.UUID | None,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    token_hash: bytes,
    expires_at: datetime,
) -> None:
    token = RefreshTokens(
        organization_id=org_id,
        user_id=user_id,
        family_id=family_id,
        parent_id=parent_id,
        token_hash=token_hash,
        expires_at=expires_at,
    )
    await RefreshTokens.insert(token)


async def claim_refresh_token(token_hash: bytes, org_id: uuid.UUID | None) -> Row | None:
    """The token's row (id, organization_id, user_id, family_id, expires_at, used_at,
    revoked_at), locked for this transaction: two concurrent refreshes of one token are
    serialized, and the second sees it used."""
    scope = (
        RefreshTokens.organization_id.is_null()
        if org_id is None
        else RefreshTokens.organization_id == org_id
    )
    query = (
        RefreshTokens.select(
            RefreshTokens.id,
            RefreshTokens.organization_id,
            RefreshTokens.user_id,
            RefreshTokens.family_id,
            RefreshTokens.expires_at,
            RefreshTokens.used_at,
            RefreshTokens.revoked_at,
        )
        .where((RefreshTokens.token_hash == token_hash) & scope)
        .lock_rows("UPDATE")
    )
    return await first(query.first())


async def mark_used(token_id: uuid.UUID) -> None:
    await RefreshTokens.update({RefreshTokens.used_at: datetime.now(UTC)}).where(
        RefreshTokens.id == token_id
    )


async def revoke_family(family_id: uuid.UUID) -> int:
    """Revoke every live token of the session; returns how many were live."""
    revoked = await rows(
        RefreshTokens.update({RefreshTokens.revoked_at: datetime.now(UTC)})
        .where((RefreshTokens.family_id == family_id) & RefreshTokens.revoked_at.is_null())
        .returning(RefreshTokens.id)
    )
    return len(revoked)


async def revoke_user_sessions(user_id: uuid.UUID) -> set[uuid.UUID]:
    """Revoke the account's live tokens visible here (in a tenant context: that organization's
    sign-ins); returns their sessions."""
    revoked = await rows(
        RefreshTokens.update({RefreshTokens.revoked_at: datetime.now(UTC)})
        .where((RefreshTokens.user_id == user_id) & RefreshTokens.revoked_at.is_null())
        .returning(RefreshTokens.family_id)
    )
    return {r["family_id"] for r in revoked}


async def session_revoked(family_id: uuid.UUID) -> bool:
    """True when the session has tokens and all of them are revoked (an unknown session is not
    revoked: its access tokens are judged by their signature and expiry alone)."""
    family = RefreshTokens.family_id == family_id
    if await RefreshTokens.exists().where(family & RefreshTokens.revoked_at.is_null()):
        return False
    known: bool = await RefreshTokens.exists().where(family)
    return known
