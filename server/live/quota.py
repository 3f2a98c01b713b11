"""Abuse limits of anonymous holds (public calendars, REST and WebSocket).

An anonymous booker is a fresh hold token whenever it likes, so "one live hold per booker" does
not bound it: one socket once took 60 holds in a second and emptied a calendar. Three limits,
counted in Redis so every server process shares them:

- per anonymous WebSocket connection: at most `PER_CONNECTION` live (unexpired, unreleased) holds;
- per IP address: `PER_ADDRESS` holds a minute (REST and WebSocket together);
- per calendar: `PER_CALENDAR` anonymous holds a minute, whatever the addresses.

Past a limit the answer is 429 `rate_limited` (REST, with Retry-After) or an `error` frame with
the same code and `details.retry_after_ms` (WebSocket). Staff and patients signed in are bound by
their own one-hold rule and the REST rate limits instead.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import redis.asyncio as aioredis
from aiohttp import web
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from server.errors import ApiError, rate_limited
from server.middleware import RateLimiter
from server.routing import RateLimit
from storage.keys import KeySpace

log = logging.getLogger("cadence.live.quota")

PER_CONNECTION = 5
PER_ADDRESS = RateLimit(limit=20, window_s=60)
PER_CALENDAR = RateLimit(limit=30, window_s=60)

# KEYS: the connection's live holds (hold id -> expiry ms). ARGV: now ms, limit.
# Returns 0 when there is room, else the ms until the earliest of them expires.
_ROOM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then return 0 end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(first[2]) - tonumber(ARGV[1]))
"""
# KEYS: the same set. ARGV: hold id, its expiry ms. The set lives as long as its last hold.
_GRANTED = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return 1
"""


def _limited(retry_after_ms: int, what: str) -> ApiError:
    return rate_limited(f"too many holds {what}; try again later", retry_after_ms)


class AnonymousHolds:
    """The three limits; one per app (`ANONYMOUS_HOLDS_KEY`), shared by REST and WebSocket."""

    def __init__(
        self,
        limiter: Callable[[], RateLimiter | None],
        redis: Callable[[], aioredis.Redis],
        keys: Callable[[], KeySpace],
    ) -> None:
        # Resolved at call time: the clients exist once the app has started.
        self._limiter = limiter
        self._redis = redis
        self._keys = keys
        self._scripts: dict[str, AsyncScript] = {}
        self._scripts_of: aioredis.Redis | None = None

    async def admit(
        self, address: str | None, calendar_id: uuid.UUID, connection_id: str | None = None
    ) -> None:
        """Count one anonymous hold attempt; raise 429 `rate_limited` past a limit."""
        if connection_id is not None:
            wait_ms = await self._script(
                _ROOM, connection_id, int(time.time() * 1000), PER_CONNECTION
            )
            if wait_ms > 0:
                raise _limited(wait_ms, "on this connection")
        limiter = self._limiter()
        if limiter is None:
            return
        for bucket, who, rule, what in (
            ("anonymous holds", address or "-", PER_ADDRESS, "from this address"),
            ("anonymous holds per calendar", str(calendar_id), PER_CALENDAR, "on this calendar"),
        ):
            try:
                await limiter.hit(bucket, who, rule)
            except ApiError as exc:
                if exc.status != 429:
                    raise
                raise _limited(int(exc.details.get("retry_after_s", 1)) * 1000, what) from None

    async def granted(self, connection_id: str, hold_id: str, expires_at: datetime) -> None:
        """Remember a hold the connection now holds, until it expires or is released."""
        await self._script(_GRANTED, connection_id, hold_id, int(expires_at.timestamp() * 1000))

    async def released(self, connection_id: str, hold_id: str) -> None:
        try:
            await self._redis().zrem(self._key(connection_id), hold_id)
        except RedisError as exc:
            log.warning("hold quota unavailable", extra={"error": repr(exc)})

    async def _script(self, source: str, connection_id: str, *args: str | int) -> int:
        """Run one of the scripts on the connection's set; 0 when Redis is unavailable (the
        per-address and per-calendar limits, and the shard's own rules, still apply)."""
        redis = self._redis()
        script = self._scripts.get(source)
        if script is None or self._scripts_of is not redis:
            self._scripts = {s: redis.register_script(s) for s in (_ROOM, _GRANTED)}
            self._scripts_of = redis
            script = self._scripts[source]
        try:
            return int(await script(keys=[self._key(connection_id)], args=list(args)))
        except RedisError as exc:
            log.warning("hold quota unavailable", extra={"error": repr(exc)})
            return 0

    def _key(self, connection_id: str) -> str:
        return self._keys().named("anonymous-holds", connection_id)


ANONYMOUS_HOLDS_KEY = web.AppKey("anonymous_holds", AnonymousHolds)
