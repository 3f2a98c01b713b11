"""Calls into the session facade with their failures mapped, for REST (ApiError) and the
WebSocket ops (OpError, same codes)."""

from __future__ import annotations

from collections.abc import Awaitable

from actors.pool import ShardOverloaded, ShardUnavailable
from actors.pose_messages import Outcome
from server.errors import ApiError

_STATUS = {
    "not_found": 404,
    "session_ended": 409,
    "session_paused": 409,
    "illegal_transition": 409,
    "bad_request": 400,
    "unavailable": 503,
}


def outcome_error(outcome: Outcome) -> ApiError | None:
    if outcome.error is None:
        return None
    status = _STATUS.get(outcome.error, 422)  # pose input codes: bad_shape, non_finite, ...
    headers = {"Retry-After": "1"} if status == 503 else {}
    return ApiError(status, outcome.error, outcome.message, headers=headers)


async def settled(call: Awaitable[Outcome]) -> Outcome:
    """The worker's answer; a refusal, a busy or a restarting worker become API errors."""
    try:
        outcome = await call
    except ShardOverloaded as exc:
        raise ApiError(
            429, "slow_down", "pose workers are behind; retry after the hint",
            {"retry_after_ms": exc.retry_after_ms},
            {"Retry-After": str(max(1, exc.retry_after_ms // 1000))},
        ) from None  # fmt: skip
    except (ShardUnavailable, TimeoutError) as exc:
        retry = exc.retry_after_s if isinstance(exc, ShardUnavailable) else 1
        raise ApiError(
            503, "unavailable", "the session's pose worker is restarting; retry shortly",
            {"retry_after_ms": retry * 1000}, {"Retry-After": str(retry)},
        ) from None  # fmt: skip
    error = outcome_error(outcome)
    if error is not None:
        raise error
    return outcome
