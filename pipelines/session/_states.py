"""The guided session's states, the legal transitions between them, and its errors."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class SessionState(StrEnum):
    ACTIVE = "active"  # a set is being done (reps counted from pose frames, or a manual done)
    RESTING = "resting"  # between sets or exercises; the rest timer runs
    PAUSED = "paused"  # by the patient, or because their device went away
    COMPLETED = "completed"
    ABANDONED = "abandoned"

    @property
    def ended(self) -> bool:
        return self in (SessionState.COMPLETED, SessionState.ABANDONED)


class PauseReason(StrEnum):
    USER = "user"
    DISCONNECTED = "disconnected"


class Action(StrEnum):
    """Commands a client (or the worker on its behalf) gives a running session."""

    PAUSE = "pause"
    RESUME = "resume"
    SKIP = "skip"  # skip the rest of the current exercise (in a rest: the one coming next)
    DONE = "done"  # end the current set now (untracked exercises; or stop a set early)
    ABANDON = "abandon"


# ACTIVE -> ACTIVE is a skip (or a set without rest) straight into the next exercise.
TRANSITIONS: Mapping[SessionState, frozenset[SessionState]] = {
    SessionState.ACTIVE: frozenset(
        {
            SessionState.ACTIVE,
            SessionState.RESTING,
            SessionState.PAUSED,
            SessionState.COMPLETED,
            SessionState.ABANDONED,
        }
    ),
    SessionState.RESTING: frozenset(
        {
            SessionState.ACTIVE,
            SessionState.PAUSED,
            SessionState.COMPLETED,
            SessionState.ABANDONED,
        }
    ),
    SessionState.PAUSED: frozenset(
        {SessionState.ACTIVE, SessionState.RESTING, SessionState.ABANDONED}
    ),
    SessionState.COMPLETED: frozenset(),
    SessionState.ABANDONED: frozenset(),
}


class GuideError(Exception):
    """A command or input the session cannot take now. ``code``: ``session_ended``,
    ``session_paused``, ``illegal_transition``, ``bad_request``, ``aspect_required`` (a set's
    first landmarks without the camera's aspect ratio)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def check_transition(current: SessionState, to: SessionState) -> None:
    if to not in TRANSITIONS[current]:
        if current.ended:
            raise GuideError("session_ended", f"the session is {current.value}")
        raise GuideError(
            "illegal_transition", f"a {current.value} session cannot become {to.value}"
        )
