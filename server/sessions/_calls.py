"""Calls into the session facade with their failures mapped, for REST (ApiError) and the
WebSocket ops (OpError, same codes)."""

from __future__ import annotations

from collections.abc import Awaitable
from contextlib import AbstractContextManager

from actors.pose.messages import Outcome
from server.errors import ApiError
from server.pool_errors import pool_errors

_STATUS = {
    "not_found": 404,
    "session_ended": 409,
    "session_paused": 409,
    "illegal_transition": 409,
    "bad_request": 400,
    "aspect_required": 400,
    "unavailable": 503,
}


def outcome_error(outcome: Outcome) -> ApiError | None:
    if outcome.error is None:
        return None
    status = _STATUS.get(outcome.error, 422)  # pose input codes: bad_shape, non_finite, ...
    headers = {"Retry-After": "1"} if status == 503 else {}
    return ApiError(status, outcome.error, outcome.message, headers=headers)


def refusals() -> AbstractContextManager[None]:
    """A busy or a restarting worker pool as API errors (429, 503)."""
    return pool_errors(
        "pose workers are behind; retry after the hint",
        "the session's pose worker is restarting; retry shortly",
    )


async def settled(call: Awaitable[Outcome]) -> Outcome:
    """The worker's answer; a refusal, a busy or a restarting worker become API errors."""
    with refusals():
        outcome = await call
    error = outcome_error(outcome)
    if error is not None:
        raise error
    return outcome
