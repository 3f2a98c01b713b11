"""Account self-service: change a password (the current one required), reset a forgotten one
by an e-mailed single-use token.

A reset token is 256 random bits, stored only as a SHA-256, valid for RESET_TTL_S and once; a
newer request retires older ones. Asking for a reset answers the same (202, after the same
work; the mail is queued in the notification outbox) whether or not the e-mail has an account.
Either change of a password ends the account's other sign-ins at once: refresh tokens revoked,
access tokens on the revocation list, WebSockets closed on every server process. Tokens and
passwords are never logged.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid

import asyncpg

from server.errors import ApiError, validation_failed
from server.identity._backends import Backends
from server.identity.gate import MembershipGate
from server.identity.passwords import Passwords
from server.identity.ratelimit import LoginThrottle, RedisRateLimiter, caller_digest
from server.routing import RateLimit
from storage import audit, identity, notifications
from storage.audit import AuditActor
from storage.crypto import KeyRing
from storage.types import Principal

log = logging.getLogger("cadence.identity.accounts")

RESET_TTL_S = 30 * 60
_RESET_TOKEN_BYTES = 32
# Per account identifier, whichever address asks: a mailbox is not to be flooded.
RESET_ACCOUNT_RATE = RateLimit(limit=5, window_s=3600)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def reset_refused() -> ApiError:
    return ApiError(400, "bad_request", "the reset code is invalid, used or expired")


class Accounts:
    def __init__(
        self,
        *,
        backends: Backends,
        passwords: Passwords,
        gate: MembershipGate,
        throttle: LoginThrottle,
        limiter: RedisRateLimiter,
        keyring: KeyRing,
    ) -> None:
        self._backends = backends
        self._passwords = passwords
        self._gate = gate
        self._throttle = throttle
        self._limiter = limiter
        self._keyring = keyring

    async def change_password(
        self, who: Principal, current: str, new: str, context: AuditActor
    ) -> None:
        """Set a new password for the caller's own account; its other sign-ins end, the one
        making the change stays."""
        db = self._backends.db()
        user = None
        if who.user_id is not None:
            async with db.tenant(who.org_id) if who.org_id else db.platform():
                user = await identity.get_account(who.user_id)
        if user is None:  # an operator token: there is no account to change
            raise ApiError(403, "forbidden", "this token belongs to no account")
        account, address = caller_digest(user["email"]), context.ip or "-"
        # The current password is a guess like any sign-in: throttled the same way.
        await self._throttle.check(account, address)
        async with db.anonymous() as conn:
            rows = await identity.login_candidates(conn, user["email"])
        stored = rows[0]["password_hash"] if rows else None
        if not await self._passwords.verify(stored, current) or stored is None:
            await self._throttle.failed(account, address)
            raise validation_failed({"current_password": "is not the account's password"})
        fresh = await self._passwords.hash(new)
        async with db.tenant(who.org_id) if who.org_id else db.platform() as conn:
            changed = await identity.change_password(
                conn, user["id"], stored, fresh, who.session_id
            )
            if changed is None:
                raise ApiError(409, "conflict", "the password changed meanwhile; try again")
            await self._audit(conn, context, who.org_id, user["id"], "auth.password_change")
        await self._gate.revoke_sessions(changed.user_id, changed.sessions)

    async def start_reset(self, email: str) -> None:
        """Mail a reset code when `email` has an account; nothing tells whether it has."""
        await self._limiter.hit("password-reset", caller_digest(email), RESET_ACCOUNT_RATE)
        token = secrets.token_urlsafe(_RESET_TOKEN_BYTES)
        async with self._backends.db().anonymous() as conn:
            address = await identity.start_reset(conn, email.strip(), _digest(token), RESET_TTL_S)
            if address is not None:
                # Queued with the code in one transaction (both or neither); the notification
                # outbox sends it (actors/notifications), never this request.
                await notifications.enqueue_password_reset(
                    conn, self._keyring, email=address, code=token
                )

    async def finish_reset(self, token: str, new: str, context: AuditActor) -> None:
        fresh = await self._passwords.hash(new)  # before the lookup: same work for bad codes
        db = self._backends.db()
        async with db.anonymous() as conn:
            reset = await identity.finish_reset(conn, _digest(token), fresh)
        if reset is None:
            raise reset_refused()
        async with db.platform() as conn:  # the account is platform-level: so is its audit row
            await self._audit(conn, context, None, reset.user_id, "auth.password_reset")
        await self._gate.revoke_sessions(reset.user_id, reset.sessions)

    @staticmethod
    async def _audit(
        conn: asyncpg.Connection,
        context: AuditActor,
        org_id: uuid.UUID | None,
        user_id: uuid.UUID,
        action: str,
    ) -> None:
        await audit.record(
            conn,
            actor=context,
            organization_id=org_id,
            action=action,
            entity="user",
            entity_id=user_id,
            before={"password": "old"},
            after={"password": "new"},
        )
