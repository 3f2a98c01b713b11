"""Rate limiting in Redis: a fixed window per (bucket, caller), counted atomically in one script."""

from __future__ import annotations

import hashlib
import logging
import math

from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from server.errors import ApiError
from server.identity._backends import Backends
from server.routing import RateLimit

log = logging.getLogger("cadence.ratelimit")

# KEYS: counter. ARGV: window ms. Returns {count in this window, ms until the window ends}.
_HIT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
"""


def caller_digest(identifier: str) -> str:
    """A key part for an identifier that must not be stored in clear (an e-mail)."""
    return hashlib.sha256(identifier.strip().lower().encode()).hexdigest()[:32]


class RedisRateLimiter:
    def __init__(self, backends: Backends) -> None:
        self._backends = backends
        self._script: AsyncScript | None = None

    async def hit(self, bucket: str, who: str, rule: RateLimit) -> None:
        """Count one call; raise 429 (with Retry-After) once the window's limit is passed."""
        redis = self._backends.redis()
        if self._script is None:
            self._script = redis.register_script(_HIT)
        key = self._backends.keys().rate(bucket, who)
        try:
            count, ttl_ms = await self._script(keys=[key], args=[rule.window_s * 1000])
        except RedisError as exc:
            log.warning("rate limiter unavailable", extra={"bucket": bucket, "error": repr(exc)})
            if rule.fail_closed:
                raise ApiError(503, "unavailable", "try again shortly") from None
            return
        if int(count) > rule.limit:
            retry_after = max(1, math.ceil(int(ttl_ms) / 1000))
            raise ApiError(
                429,
                "rate_limited",
                "too many requests; try again later",
                {"retry_after_s": retry_after},
                headers={"Retry-After": str(retry_after)},
            )
