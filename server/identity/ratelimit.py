"""Rate limiting in Redis: a fixed window per (bucket, caller), counted atomically in one script;
and the sign-in throttle, which counts failures only and answers them with a growing delay."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from server.errors import ApiError, rate_limited
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
            raise rate_limited("too many requests; try again later", int(ttl_ms))


# KEYS: failure counter, block. ARGV: counter window ms, free failures, first delay ms, max
# delay ms. Counts one failure; past the free ones, blocks for a delay that doubles with each
# further failure, up to the maximum. Returns the block's ms (0: not blocked).
_FAILED = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
local over = n - tonumber(ARGV[2])
if over <= 0 then return 0 end
local delay = math.min(tonumber(ARGV[3]) * 2 ^ math.min(over - 1, 30), tonumber(ARGV[4]))
redis.call('SET', KEYS[2], '1', 'PX', math.floor(delay))
return math.floor(delay)
"""


@dataclass(frozen=True, slots=True)
class Backoff:
    """`free` failures cost nothing; then each one blocks for `first_s`, doubling, at most
    `max_s`. The count is forgotten `window_s` after the last failure."""

    free: int
    first_s: float
    max_s: float
    window_s: int


# An attacker spread over many addresses can only slow an account down this much, so anyone can
# still sign in with the right password after a short wait; one address backs off far longer.
ACCOUNT_BACKOFF = Backoff(free=5, first_s=1.0, max_s=30.0, window_s=900)
ADDRESS_BACKOFF = Backoff(free=10, first_s=1.0, max_s=900.0, window_s=900)


def _too_many(retry_after_ms: int) -> ApiError:
    return rate_limited("too many failed sign-ins; try again later", retry_after_ms)


class LoginThrottle:
    """Failed sign-ins, per account identifier and per client address. Only failures count (a
    correct password never locks anyone out); while either is blocked, sign-ins answer 429 with
    Retry-After before any password is checked, the same for accounts that do not exist."""

    def __init__(
        self,
        backends: Backends,
        account: Backoff = ACCOUNT_BACKOFF,
        address: Backoff = ADDRESS_BACKOFF,
    ) -> None:
        self._backends = backends
        self._rules = {"account": account, "address": address}
        self._script: AsyncScript | None = None

    def _keys(self, kind: str, who: str) -> tuple[str, str]:
        keys = self._backends.keys()
        return keys.rate(f"login-failures:{kind}", who), keys.rate(f"login-block:{kind}", who)

    async def check(self, account: str, address: str) -> None:
        """Raise 429 while the account or the address is blocked."""
        blocks = [self._keys("account", account)[1], self._keys("address", address)[1]]
        try:
            async with self._backends.redis().pipeline(transaction=False) as pipe:
                for key in blocks:
                    pipe.pttl(key)
                ttls = await pipe.execute()
        except RedisError as exc:
            log.warning("login throttle unavailable", extra={"error": repr(exc)})
            raise ApiError(503, "unavailable", "try again shortly") from None
        longest = max(int(t) for t in ttls)
        if longest > 0:
            raise _too_many(longest)

    async def failed(self, account: str, address: str) -> None:
        """Count a failure of both; the caller answers 401 (the next attempt may get 429)."""
        redis = self._backends.redis()
        if self._script is None:
            self._script = redis.register_script(_FAILED)
        try:
            for kind, who in (("account", account), ("address", address)):
                rule = self._rules[kind]
                await self._script(
                    keys=list(self._keys(kind, who)),
                    args=[
                        rule.window_s * 1000,
                        rule.free,
                        int(rule.first_s * 1000),
                        int(rule.max_s * 1000),
                    ],
                )
        except RedisError as exc:
            log.warning("login throttle unavailable", extra={"error": repr(exc)})

    async def succeeded(self, account: str) -> None:
        """The account's owner is back: its failures are forgotten (the address's are not, or
        an attacker could reset its own count by signing into an account of its own)."""
        try:
            await self._backends.redis().delete(*self._keys("account", account))
        except RedisError as exc:
            log.warning("login throttle unavailable", extra={"error": repr(exc)})
