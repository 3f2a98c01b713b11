"""Actor-pool refusals as API errors, the same way for every domain that calls a pool."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from actors import ShardOverloaded, ShardUnavailable
from server.errors import ApiError


@contextmanager
def pool_errors(busy: str, restarting: str) -> Iterator[None]:
    """A full queue becomes 429 `slow_down`, a restarting (or silent) actor 503 `unavailable`;
    both carry the retry hint in `details.retry_after_ms` and in Retry-After."""
    try:
        yield
    except ShardOverloaded as exc:
        raise ApiError(
            429, "slow_down", busy,
            {"retry_after_ms": exc.retry_after_ms},
            {"Retry-After": str(max(1, exc.retry_after_ms // 1000))},
        ) from None  # fmt: skip
    except (ShardUnavailable, TimeoutError) as exc:
        retry = exc.retry_after_s if isinstance(exc, ShardUnavailable) else 1
        raise ApiError(
            503, "unavailable", restarting,
            {"retry_after_ms": retry * 1000}, {"Retry-After": str(retry)},
        ) from None  # fmt: skip
