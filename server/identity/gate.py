"""Is a verified token's session still good? Refuses tokens of disabled memberships, tokens
minted before a membership's sessions were invalidated (role change, re-enable), and tokens of a
sign-in that was revoked (logout, password change, removed membership): the session revocation
list, one Redis key per revoked sign-in, kept as long as an access token lives.

Hot path: a process-local answer at most LOCAL_TTL_S old, else one Redis GET. PostgreSQL is the
truth: on a Redis miss (or when Redis is unreachable) the membership row is read in the token's
organization context. Writers call `remember` after their transaction commits; it updates this
process at once and Redis for the others, which see the change within LOCAL_TTL_S. A Redis fill
uses SET NX, so a fill that read the row before a concurrent disable cannot overwrite the disable.
Every change is also published on the revocation feed: each process forgets its local answer at
once, and the WebSocket gateway closes the member's open sockets (server/gateway.py).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterable
from datetime import datetime

from redis.exceptions import RedisError

from server.errors import ApiError
from server.identity._backends import Backends
from server.identity.revocation import Revocation, RevocationFeed
from storage import identity
from storage.cache import BoundedCache
from storage.types import Principal

log = logging.getLogger("cadence.identity")

_DISABLED = "d"
FILL_TTL_S = 60  # bounds how long a lost invalidation (Redis write failed) can go unnoticed
WRITE_TTL_S = 3600
# How long another process may keep accepting a disabled member's tokens (this one: not at all).
LOCAL_TTL_S = 1.0
LOCAL_SIZE = 20_000


def _encode(disabled: bool, valid_after: datetime | None) -> str:
    """`d` (disabled), or the instant (epoch ms) before which tokens are refused."""
    if disabled:
        return _DISABLED
    return str(math.floor(valid_after.timestamp() * 1000)) if valid_after else "0"


class MembershipGate:
    def __init__(self, backends: Backends, *, session_ttl_s: int) -> None:
        self._backends = backends
        self._session_ttl_s = session_ttl_s
        self._local: BoundedCache[tuple[uuid.UUID, uuid.UUID], str] = BoundedCache(
            "membership_gate", LOCAL_SIZE
        )
        # Session id -> revoked? Revoked answers are final; live ones kept LOCAL_TTL_S.
        self._sessions: BoundedCache[uuid.UUID, bool] = BoundedCache("session_gate", LOCAL_SIZE)
        # Bumped by every `remember`: a read that started before a change must not be kept.
        self._changes = 0
        self.feed = RevocationFeed(backends.redis, lambda: backends.keys().named("revocations"))
        self.feed.listen(self._heard)

    def _key(self, org_id: uuid.UUID, user_id: uuid.UUID) -> str:
        return self._backends.keys().named("member", str(org_id), str(user_id))

    async def check(self, principal: Principal, issued_at: float) -> None:
        """Raise 401 unless the principal's membership may still use a token issued at
        `issued_at`, and its sign-in (if it names one) was not revoked. Tokens without an
        organization (superadmin) have no membership to check; tokens whose user has no
        membership row (operator tokens of `cadence token`) pass."""
        if principal.org_id is not None and principal.user_id is not None:
            state = await self._state(principal.org_id, principal.user_id)
            if state == _DISABLED:
                raise ApiError(401, "unauthorized", "this account is disabled")
            if issued_at * 1000 < int(state):
                raise ApiError(401, "unauthorized", "token was revoked; sign in again")
        if principal.session_id is not None and await self._revoked(principal):
            raise ApiError(401, "unauthorized", "token was revoked; sign in again")

    def _session_key(self, session_id: uuid.UUID) -> str:
        return self._backends.keys().named("revoked-session", str(session_id))

    async def _revoked(self, principal: Principal) -> bool:
        session_id = principal.session_id
        assert session_id is not None
        local = self._sessions.get(session_id)
        if local is not None:
            return local
        changes = self._changes
        try:
            revoked = bool(await self._backends.redis().exists(self._session_key(session_id)))
        except RedisError as exc:
            log.warning("session revocation list unavailable", extra={"error": repr(exc)})
            revoked = await self._read_session(principal.org_id, session_id)
        if changes == self._changes:
            ttl = self._session_ttl_s if revoked else LOCAL_TTL_S
            self._sessions.put(session_id, revoked, time.monotonic() + ttl)
        return revoked

    async def _read_session(self, org_id: uuid.UUID | None, session_id: uuid.UUID) -> bool:
        """PostgreSQL's answer: the sign-in's refresh tokens are all revoked."""
        db = self._backends.db()
        async with db.tenant(org_id) if org_id else db.platform():
            return await identity.session_revoked(session_id)

    async def revoke_sessions(
        self, user_id: uuid.UUID, sessions: Iterable[uuid.UUID], org_id: uuid.UUID | None = None
    ) -> None:
        """Put committed revocations of sign-ins (their refresh tokens are revoked already) on
        the list for as long as their access tokens live, and end their live connections."""
        ids = frozenset(sessions)
        if not ids:
            return
        self._changes += 1
        for session_id in ids:
            self._sessions.put(session_id, True, time.monotonic() + self._session_ttl_s)
        try:
            async with self._backends.redis().pipeline(transaction=False) as pipe:
                for session_id in ids:
                    pipe.set(self._session_key(session_id), "1", ex=self._session_ttl_s)
                await pipe.execute()
        except RedisError as exc:
            log.error("session revocation write failed", extra={"error": repr(exc)})
        await self.feed.publish([Revocation(user_id, org_id, ids)])

    def _heard(self, revocation: Revocation) -> None:
        """Another process (or this one) revoked something: drop what we knew."""
        self._changes += 1
        if revocation.sessions is not None:
            deadline = time.monotonic() + self._session_ttl_s
            for session_id in revocation.sessions:
                self._sessions.put(session_id, True, deadline)
        elif revocation.org_id is not None:
            self._local.discard((revocation.org_id, revocation.user_id))

    async def _state(self, org_id: uuid.UUID, user_id: uuid.UUID) -> str:
        local = self._local.get((org_id, user_id))
        if local is not None:
            return local
        changes = self._changes
        state = await self._shared_state(org_id, user_id)
        if changes == self._changes:
            self._local.put((org_id, user_id), state, time.monotonic() + LOCAL_TTL_S)
        return state

    async def _shared_state(self, org_id: uuid.UUID, user_id: uuid.UUID) -> str:
        key = self._key(org_id, user_id)
        redis = self._backends.redis()
        try:
            cached = await redis.get(key)
        except RedisError as exc:
            log.warning("membership cache unavailable", extra={"error": repr(exc)})
            return await self._read(org_id, user_id)
        if cached is not None:
            return cached.decode() if isinstance(cached, bytes) else str(cached)
        state = await self._read(org_id, user_id)
        try:
            await redis.set(key, state, ex=FILL_TTL_S, nx=True)
        except RedisError:
            pass  # the answer is right; only the next request pays for the read again
        return state

    async def _read(self, org_id: uuid.UUID, user_id: uuid.UUID) -> str:
        async with self._backends.db().tenant(org_id):
            row = await identity.membership_state(user_id)
        if row is None:
            return "0"
        return _encode(row["disabled_at"] is not None, row["sessions_valid_after"])

    async def remember(
        self,
        org_id: uuid.UUID,
        user_id: uuid.UUID,
        *,
        disabled: bool,
        valid_after: datetime | None,
        revoke: bool = True,
    ) -> None:
        """Publish a committed change of the membership (call after the transaction). `revoke`:
        the member's open connections in this organization end (disable, role change)."""
        # The local answer goes now, and again once Redis holds the change: a read that
        # overlapped the write may have fetched the old state.
        self._forget_local(org_id, user_id)
        key = self._key(org_id, user_id)
        try:
            await self._backends.redis().set(key, _encode(disabled, valid_after), ex=WRITE_TTL_S)
        except RedisError as exc:
            log.error("membership cache write failed", extra={"error": repr(exc)})
            try:
                await self._backends.redis().delete(key)
            except RedisError:
                pass  # the fill TTL bounds the staleness
        finally:
            self._forget_local(org_id, user_id)
        if revoke:
            await self.feed.publish([Revocation(user_id, org_id)])

    def _forget_local(self, org_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self._changes += 1
        self._local.discard((org_id, user_id))
