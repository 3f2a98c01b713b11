"""Which failures mean a backing service is away for a moment (PostgreSQL restarting or shutting
down, Redis restarting or loading its AOF, a connection cut or refused, a pool that could not
hand out a connection in time) rather than a defect: the edge answers those 503 `unavailable`
with a retry hint, as it does for a restarting actor; anything else stays a 500."""

from __future__ import annotations

import asyncpg
import redis.exceptions

from storage.errors import Unavailable

RETRY_AFTER_S = 1  # a restart takes about that long to be worth asking again

_AWAY: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, "starting up", cancel
    asyncpg.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.ConnectionDoesNotExistError,  # the server closed it mid-operation
    redis.exceptions.ConnectionError,  # refused, reset, or BusyLoadingError while loading
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)


def outage(exc: BaseException) -> Unavailable | None:
    """The 503 to answer for `exc` when it (or what caused it) is a service being away, with
    its retry hint in `details.retry_after_ms`."""
    seen: BaseException | None = exc
    for _ in range(4):  # a wrapped cause: Piccolo and our own layers re-raise with `from`
        if seen is None:
            break
        if isinstance(seen, _AWAY):
            return Unavailable(
                "a service Cadence needs is restarting; retry shortly",
                {"retry_after_ms": RETRY_AFTER_S * 1000},
            )
        seen = seen.__cause__ or seen.__context__
    return None
