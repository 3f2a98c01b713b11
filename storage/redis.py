"""The Redis client: bounded timeouts on every call, and a health check that never hangs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError

COMMAND_TIMEOUT_S = 2.0


def create_redis(url: str, *, max_connections: int = 100) -> aioredis.Redis:
    # A blocking pool makes a burst of callers wait (bounded) for a free connection instead of
    # failing with "too many connections" or opening without limit.
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=COMMAND_TIMEOUT_S,
        socket_timeout=COMMAND_TIMEOUT_S,
        socket_connect_timeout=1.0,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )
    return aioredis.Redis(connection_pool=pool)


ScriptCall = tuple[AsyncScript, Sequence[Any], Sequence[Any]]  # script, keys, args


async def run_scripts(redis: aioredis.Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """Every call's result, the calls pipelined in order in ONE round trip (no transaction).

    redis-py's pipeline asks SCRIPT EXISTS before each execution that holds a script, a second
    round trip on every call; this sends EVALSHA straight away and loads a script only when Redis
    answers NOSCRIPT (after a restart or a SCRIPT FLUSH), then runs, in order, just the calls that
    did not run. Any other error is raised, as `pipeline.execute()` does."""
    if not calls:
        return []
    pipe = redis.pipeline(transaction=False)
    for script, keys, args in calls:
        pipe.evalsha(script.sha, len(keys), *keys, *args)
    results: list[Any] = await pipe.execute(raise_on_error=False)
    for i, result in enumerate(results):
        if isinstance(result, NoScriptError):
            script, keys, args = calls[i]
            results[i] = await script(keys=list(keys), args=list(args))  # loads, then runs
        elif isinstance(result, Exception):
            raise result
    return results
