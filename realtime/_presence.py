"""Presence: how many viewers a calendar has, whether a patient's device is connected.

Each channel's presence is a sorted set in Redis whose members are `<server>:<connection>` and
whose scores are expiry times (ms). A process refreshes the scores of its own members every
`refresh_s`; readers count only unexpired members. A crashed process stops refreshing, so its
members stop counting within `ttl_s` with nobody cleaning up after it (the key itself also
carries a TTL). Presence is best effort: a Redis error is logged, the next refresh repairs it.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from storage.keys import KeySpace
from storage.types import ChannelName

log = logging.getLogger("cadence.realtime.presence")


def _now_ms() -> int:
    return int(time.time() * 1000)


class Presence:
    def __init__(
        self, redis: aioredis.Redis, keys: KeySpace, server_id: str, *, ttl_s: float = 30.0
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._server = server_id
        self._ttl_ms = int(ttl_s * 1000)
        self._local: dict[ChannelName, set[str]] = {}

    def member(self, connection_id: str) -> str:
        return f"{self._server}:{connection_id}"

    async def enter(self, channel: ChannelName, connection_id: str) -> None:
        member = self.member(connection_id)
        self._local.setdefault(channel, set()).add(member)
        key = self._keys.presence(channel)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.zadd(key, {member: _now_ms() + self._ttl_ms})
                pipe.pexpire(key, self._ttl_ms * 2)
                await pipe.execute()
        except RedisError as exc:
            log.warning("presence enter failed: %s", exc)

    async def leave(self, channel: ChannelName, connection_id: str) -> None:
        member = self.member(connection_id)
        members = self._local.get(channel)
        if members is not None:
            members.discard(member)
            if not members:
                del self._local[channel]
        try:
            await self._redis.zrem(self._keys.presence(channel), member)
        except RedisError as exc:
            log.warning("presence leave failed: %s", exc)

    async def count(self, channel: ChannelName) -> int:
        """Connections present on `channel` across every server process."""
        return int(await self._redis.zcount(self._keys.presence(channel), _now_ms(), "+inf"))

    async def refresh(self) -> None:
        """Push this process's members' expiry forward and drop everyone's expired members."""
        if not self._local:
            return
        now = _now_ms()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel, members in self._local.items():
                    key = self._keys.presence(channel)
                    pipe.zadd(key, dict.fromkeys(members, now + self._ttl_ms))
                    pipe.zremrangebyscore(key, "-inf", now)
                    pipe.pexpire(key, self._ttl_ms * 2)
                await pipe.execute()
        except RedisError as exc:
            log.warning("presence refresh failed: %s", exc)

    async def clear(self) -> None:
        """Remove every member of this process (graceful shutdown)."""
        local, self._local = self._local, {}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for channel, members in local.items():
                    pipe.zrem(self._keys.presence(channel), *members)
                await pipe.execute()
        except RedisError as exc:
            log.warning("presence clear failed: %s", exc)
