"""Rotating refresh tokens, stored only as SHA-256 digests.

A token reads `<scope>.<secret>`: the scope is the organization id (or `platform` for superadmin
sessions), so a refresh runs in that organization's context under row-level security without
any cross-tenant lookup. The digest covers the whole string, so editing the scope finds nothing.
Each login starts a family; every refresh marks its token used and issues the next one in the
family. Presenting a used token means it leaked: the whole family is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from storage import identity

PLATFORM_SCOPE = "platform"
_SECRET_BYTES = 32


class MalformedToken(ValueError):
    """Not a refresh token of ours."""


@dataclass(frozen=True, slots=True)
class Issued:
    value: str
    family_id: uuid.UUID
    expires_at: datetime


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def scope_of(value: str) -> uuid.UUID | None:
    """The organization a token belongs to (None: a platform session)."""
    scope, dot, secret = value.partition(".")
    if not dot or not 20 <= len(secret) <= 100:
        raise MalformedToken("not a refresh token")
    if scope == PLATFORM_SCOPE:
        return None
    try:
        return uuid.UUID(scope)
    except ValueError:
        raise MalformedToken("not a refresh token") from None


async def issue(
    *,
    org_id: uuid.UUID | None,
    user_id: uuid.UUID,
    ttl_s: int,
    family_id: uuid.UUID | None = None,
    parent_id: uuid.UUID | None = None,
) -> Issued:
    """A new token, stored in the transaction of the caller's block (its organization's)."""
    scope = str(org_id) if org_id else PLATFORM_SCOPE
    value = f"{scope}.{secrets.token_urlsafe(_SECRET_BYTES)}"
    family = family_id or uuid.uuid4()
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_s)
    await identity.store_refresh_token(
        org_id=org_id,
        user_id=user_id,
        family_id=family,
        parent_id=parent_id,
        token_hash=digest(value),
        expires_at=expires_at,
    )
    return Issued(value, family, expires_at)


async def claim(value: str, org_id: uuid.UUID | None) -> dict[str, Any] | None:
    """The token's row, locked for this transaction (so two concurrent refreshes of one token
    are serialized and the second one sees it used)."""
    return await identity.claim_refresh_token(digest(value), org_id)
