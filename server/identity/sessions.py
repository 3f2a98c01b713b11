"""Sign-in, refresh and sign-out.

Every failure of a login answers the same 401 after the same work (a password hash is verified
even for unknown e-mails). Failed sign-ins, and only those, are counted per account identifier
and per client address: past a few, each further one is answered with a growing delay (429 with
Retry-After), identical for accounts that do and do not exist (ratelimit.LoginThrottle).
Each successful call writes its audit row in the transaction that stores its refresh token.

A sign-in is a session: its refresh-token family, whose id every access token carries (`sess`).
Signing out, or reusing a rotated refresh token after the grace window, revokes the session:
its refresh tokens in PostgreSQL, its access tokens on the revocation list, its WebSockets on
every server process (gate.MembershipGate.revoke_sessions).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from server import tokens
from server.errors import ApiError
from server.http import iso
from server.identity import refresh as refresh_tokens
from server.identity._backends import Backends
from server.identity.gate import MembershipGate
from server.identity.passwords import Passwords
from server.identity.ratelimit import LoginThrottle, caller_digest
from storage import audit, identity
from storage.audit import AuditActor
from storage.types import Role

# Two refreshes of one token fired together (two tabs, a retried request) both get a token pair
# when the second comes within this window after the first; later, a rotated token coming back
# means it leaked. Auth0 and Okta call this the reuse interval / grace period.
REFRESH_GRACE = timedelta(seconds=30)


def invalid_credentials() -> ApiError:
    return ApiError(401, "unauthorized", "invalid e-mail or password")


def refresh_refused() -> ApiError:
    return ApiError(401, "unauthorized", "refresh token is invalid, expired or revoked")


@dataclass(frozen=True, slots=True)
class Grant:
    """What an access token will say."""

    user_id: uuid.UUID
    org_id: uuid.UUID | None
    role: Role
    patient_id: uuid.UUID | None = None
    specialist_id: uuid.UUID | None = None


class Sessions:
    def __init__(
        self,
        *,
        secret: str,
        access_ttl_s: int,
        refresh_ttl_s: int,
        backends: Backends,
        passwords: Passwords,
        throttle: LoginThrottle,
        gate: MembershipGate,
    ) -> None:
        self._secret = secret
        self._access_ttl_s = access_ttl_s
        self._refresh_ttl_s = refresh_ttl_s
        self._backends = backends
        self._passwords = passwords
        self._throttle = throttle
        self._gate = gate

    @asynccontextmanager
    async def _scope(self, org_id: uuid.UUID | None) -> AsyncIterator[asyncpg.Connection]:
        """An organization's sessions live in its tenant context; superadmin's on the platform."""
        db = self._backends.db()
        async with db.tenant(org_id) if org_id else db.platform() as conn:
            yield conn

    async def login(
        self, email: str, password: str, org_id: uuid.UUID | None, context: AuditActor
    ) -> dict[str, Any]:
        account, address = caller_digest(email), context.ip or "-"
        await self._throttle.check(account, address)
        async with self._backends.db().anonymous() as conn:
            rows = await identity.login_candidates(conn, email)
        stored = rows[0]["password_hash"] if rows else None
        grant = _choose(rows, org_id) if rows else None
        # No enabled membership (there): the same answer, and the same count, as a wrong password.
        if not await self._passwords.verify(stored, password) or grant is None:
            await self._throttle.failed(account, address)
            raise invalid_credentials()
        await self._throttle.succeeded(account)
        if stored is not None and self._passwords.needs_rehash(stored):
            await self._rehash(grant.user_id, stored, password)
        async with self._scope(grant.org_id) as conn:
            issued = await refresh_tokens.issue(
                org_id=grant.org_id, user_id=grant.user_id, ttl_s=self._refresh_ttl_s
            )
            after = {
                "user_id": grant.user_id,
                "role": grant.role.value,
                "expires_at": issued.expires_at,
            }
            await self._audit(conn, grant, context, "auth.login", issued, None, after)
        return self._pair(grant, issued)

    async def _rehash(self, user_id: uuid.UUID, stored: str, password: str) -> None:
        """Our hashing parameters were raised since this hash was made: store a new one."""
        fresh = await self._passwords.hash(password)
        async with self._backends.db().anonymous() as conn:
            await identity.rehash_password(conn, user_id, stored, fresh)

    async def refresh(self, value: str, context: AuditActor) -> dict[str, Any]:
        org_id = _scope_or_401(value)
        reused: dict[str, Any] | None = None
        async with self._scope(org_id) as conn:
            row = await refresh_tokens.claim(value, org_id)
            if row is None or row["revoked_at"] is not None:
                raise refresh_refused()
            now = datetime.now(UTC)
            in_grace = row["used_at"] is not None and now - row["used_at"] <= REFRESH_GRACE
            if row["used_at"] is not None and not in_grace:
                # A rotated token came back: someone holds a copy. End the whole login.
                await identity.revoke_family(row["family_id"])
                await audit.record(
                    conn,
                    actor=replace(context, user_id=row["user_id"], role=None),
                    organization_id=org_id,
                    action="auth.refresh_reuse",
                    entity="session",
                    entity_id=row["family_id"],
                    before={"revoked": False},
                    after={"revoked": True},
                )
                reused = row
            elif row["expires_at"] <= now:
                raise refresh_refused()
            else:
                found = await _current_grant(conn, row["user_id"], org_id)
                if found is None:
                    raise refresh_refused()
                grant = found
                if not in_grace:  # a second refresh within the grace keeps the first's used_at
                    await identity.mark_used(row["id"])
                issued = await refresh_tokens.issue(
                    org_id=org_id,
                    user_id=grant.user_id,
                    ttl_s=self._refresh_ttl_s,
                    family_id=row["family_id"],
                    parent_id=row["id"],
                )
                await self._audit(
                    conn,
                    grant,
                    context,
                    "auth.refresh",
                    issued,
                    {"expires_at": row["expires_at"]},
                    {"expires_at": issued.expires_at},
                )
        if reused is not None:  # raised after the commit, so the revocation stands
            await self._gate.revoke_sessions(reused["user_id"], [reused["family_id"]], org_id)
            raise refresh_refused()
        return self._pair(grant, issued)

    async def logout(self, value: str, context: AuditActor) -> None:
        """Revoke the token's whole family. Unknown or already revoked tokens: nothing to do."""
        try:
            org_id = refresh_tokens.scope_of(value)
        except refresh_tokens.MalformedToken:
            return
        async with self._scope(org_id) as conn:
            row = await refresh_tokens.claim(value, org_id)
            if row is None or not await identity.revoke_family(row["family_id"]):
                return
            # Audited in the transaction; the access tokens and sockets end after the commit.
            await audit.record(
                conn,
                actor=replace(context, user_id=row["user_id"]),
                organization_id=org_id,
                action="auth.logout",
                entity="session",
                entity_id=row["family_id"],
                before={"revoked": False},
                after={"revoked": True},
            )
        await self._gate.revoke_sessions(row["user_id"], [row["family_id"]], org_id)

    async def _audit(
        self,
        conn: asyncpg.Connection,
        grant: Grant,
        context: AuditActor,
        action: str,
        issued: refresh_tokens.Issued,
        before: dict[str, Any] | None,
        after: dict[str, Any],
    ) -> None:
        await audit.record(
            conn,
            actor=replace(context, user_id=grant.user_id, role=grant.role.value),
            organization_id=grant.org_id,
            action=action,
            entity="session",
            entity_id=issued.family_id,
            before=before,
            after=after,
        )

    def _pair(self, grant: Grant, issued: refresh_tokens.Issued) -> dict[str, Any]:
        access = tokens.issue(
            self._secret,
            role=grant.role,
            org_id=grant.org_id,
            user_id=grant.user_id,
            patient_id=grant.patient_id,
            specialist_id=grant.specialist_id,
            session_id=issued.family_id,
            ttl_s=self._access_ttl_s,
        )
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self._access_ttl_s,
            "refresh_token": issued.value,
            "refresh_expires_at": iso(issued.expires_at),
            "user_id": str(grant.user_id),
            "organization_id": str(grant.org_id) if grant.org_id else None,
            "role": grant.role.value,
        }


def _scope_or_401(value: str) -> uuid.UUID | None:
    try:
        return refresh_tokens.scope_of(value)
    except refresh_tokens.MalformedToken:
        raise refresh_refused() from None


def _choose(rows: list[dict[str, Any]], org_id: uuid.UUID | None) -> Grant | None:
    """The organization to sign into: the one asked for, else superadmin's platform session,
    else the account's earliest enabled membership."""
    user_id = rows[0]["user_id"]
    memberships = [r for r in rows if r["organization_id"] is not None]
    if org_id is None and rows[0]["is_superadmin"]:
        return Grant(user_id, None, Role.SUPERADMIN)
    for r in memberships:
        if org_id is None or r["organization_id"] == org_id:
            return Grant(
                user_id, r["organization_id"], Role(r["role"]), r["patient_id"], r["specialist_id"]
            )
    return None


async def _current_grant(
    conn: asyncpg.Connection, user_id: uuid.UUID, org_id: uuid.UUID | None
) -> Grant | None:
    """The grant as it stands now (a role changed since login shows in the new access token)."""
    if org_id is None:
        user = await identity.get_account(user_id)
        return Grant(user_id, None, Role.SUPERADMIN) if user and user["is_superadmin"] else None
    member = await identity.get_member(conn, user_id)
    if member is None or member["disabled_at"] is not None:
        return None
    return Grant(
        user_id, org_id, Role(member["role"]), member["patient_id"], member["specialist_id"]
    )
