"""The built-in ops: auth, subscribe, unsubscribe, presence, ping. Other ops (hold, release,
pose, telemetry) are registered by the server in `Gateway.ops`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from redis.exceptions import RedisError

from realtime import _protocol as proto
from realtime._connection import Connection
from realtime._contracts import Authenticator, SubscriptionPolicy
from realtime._hub import Hub
from realtime._presence import Presence
from realtime._protocol import CloseCode, Limits, OpError
from realtime._recovery import Subscription
from storage.events import StreamPosition
from storage.types import Channel, ChannelKind, Role

POLICY_TIMEOUT_S = 5.0


class BuiltinOps:
    def __init__(
        self,
        hub: Hub,
        presence: Presence,
        authenticator: Authenticator,
        policy: SubscriptionPolicy,
        limits: Limits,
    ) -> None:
        self._hub = hub
        self._presence = presence
        self._authenticator = authenticator
        self._policy = policy
        self._limits = limits
        self._slots = asyncio.Semaphore(limits.redis_concurrency)

    async def verify(self, token: object) -> Any:
        if not isinstance(token, str) or not token or len(token) > 8192:
            raise ValueError("token must be a non-empty string")
        async with asyncio.timeout(POLICY_TIMEOUT_S):
            return await self._authenticator.authenticate_token(token)

    async def auth(self, conn: Connection, frame: dict[str, Any]) -> dict[str, Any] | None:
        current = conn.principal
        if current is None and time.monotonic() - conn.opened_at > self._limits.auth_window_s:
            raise OpError("auth_window_closed", "auth is accepted in the first seconds only")
        token = frame.get("token")
        if not isinstance(token, str) or not token:
            raise OpError("bad_request", "auth needs a string 'token'")
        try:
            principal = await self.verify(token)
        except Exception:
            conn.fail(CloseCode.UNAUTHORIZED, "invalid token")
            return None
        if current is not None and (
            (current.user_id, current.org_id, current.role, current.patient_id)
            != (principal.user_id, principal.org_id, principal.role, principal.patient_id)
        ):
            raise OpError("forbidden", "a refreshed token must be for the same identity")
        conn.authenticate(principal)
        if current is None:
            await self.enter_patient_presence(conn)
        return {"role": principal.role.value, "expires_at": principal.expires_at}

    async def enter_patient_presence(self, conn: Connection) -> None:
        principal = conn.principal
        if principal is not None and principal.role is Role.PATIENT and principal.patient_id:
            channel = Channel.patient(principal.patient_id)
            # The token's patient id counts only as a patient of the token's organization (the
            # policy compares both): another clinic's same id must not look connected there.
            try:
                if not await self.authorized(conn, channel):
                    return
            except OpError:  # authorization unavailable: no presence rather than a false one
                return
            conn.present_on.add(channel.name)
            await self._presence.enter(channel.name, conn.id)

    async def authorized(self, conn: Connection, channel: Channel) -> bool:
        now = time.monotonic()
        cached = conn.decisions.get(channel.name)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            async with asyncio.timeout(POLICY_TIMEOUT_S):
                allowed = await self._policy.may_subscribe(conn.principal, channel)
        except Exception:
            raise OpError("unavailable", "authorization is unavailable, retry") from None
        if len(conn.decisions) > 2 * self._limits.max_subscriptions:
            conn.decisions.clear()
        conn.decisions[channel.name] = (allowed, now + self._limits.policy_cache_s)
        return allowed

    @staticmethod
    def channel_of(frame: dict[str, Any]) -> Channel:
        try:
            return Channel.parse(frame.get("channel"))  # type: ignore[arg-type]
        except ValueError as exc:
            raise OpError("bad_request", str(exc)) from None

    async def subscribe(self, conn: Connection, frame: dict[str, Any], fid: proto.FrameId) -> None:
        """Pushes its own `ok` (it must precede the replayed events) or raises OpError."""
        channel = self.channel_of(frame)
        since = None
        if frame.get("since") is not None:
            try:
                since = StreamPosition.parse(frame["since"])
            except ValueError as exc:
                raise OpError("bad_request", str(exc)) from None
        name = channel.name
        if name in conn.subscriptions:
            raise OpError("already_subscribed", "already subscribed to this channel")
        if len(conn.subscriptions) >= self._limits.max_subscriptions:
            raise OpError("too_many_subscriptions", "subscription limit reached")
        if not await self.authorized(conn, channel):
            raise OpError("forbidden", "you may not subscribe to this channel")
        principal = conn.principal
        counters_only = principal is not None and self._policy.counters_only(principal, channel)
        non_clinical = principal is not None and self._policy.non_clinical_only(principal, channel)
        sub = Subscription(name, conn, self._hub, self._slots, counters_only=counters_only,
                           non_clinical_only=non_clinical)  # fmt: skip
        conn.subscriptions[name] = sub
        try:
            await sub.join(since, fid)
        except (TimeoutError, RedisError, OSError):
            conn.subscriptions.pop(name, None)
            sub.close()
            raise OpError("unavailable", "the event stream is unavailable, retry") from None
        if channel.kind is ChannelKind.CALENDAR and name not in conn.present_on:
            conn.present_on.add(name)
            await self._presence.enter(name, conn.id)

    async def unsubscribe(self, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
        channel = self.channel_of(frame)
        sub = conn.subscriptions.pop(channel.name, None)
        if sub is None:
            raise OpError("not_subscribed", "not subscribed to this channel")
        sub.close()
        if channel.kind is ChannelKind.CALENDAR and channel.name in conn.present_on:
            conn.present_on.discard(channel.name)
            await self._presence.leave(channel.name, conn.id)
        return {"channel": channel.name}

    async def presence(self, conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
        """`{"op": "presence", "channel"}`: viewers of a calendar, or whether a patient's device
        is connected. Visible to whoever may subscribe to the channel (staff, for patient:)."""
        channel = self.channel_of(frame)
        if channel.kind is ChannelKind.ORG:
            raise OpError("bad_request", "presence is kept for calendar and patient channels")
        if not await self.authorized(conn, channel):
            raise OpError("forbidden", "you may not see this channel")
        try:
            async with asyncio.timeout(POLICY_TIMEOUT_S):
                count = await self._presence.count(channel.name)
        except (TimeoutError, RedisError, OSError):
            raise OpError("unavailable", "presence is unavailable, retry") from None
        if channel.kind is ChannelKind.CALENDAR:
            return {"channel": channel.name, "viewers": count}
        return {"channel": channel.name, "connected": count > 0, "devices": count}

    async def leave_all(self, conn: Connection) -> None:
        for name in list(conn.present_on):
            await self._presence.leave(name, conn.id)
        conn.present_on.clear()

    @staticmethod
    async def ping(conn: Connection, frame: dict[str, Any]) -> dict[str, Any]:
        return {"t": int(time.time() * 1000)}
