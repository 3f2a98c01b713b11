"""The follow-up state machine: states, actions, and the one table of legal transitions.

    pending -> scheduled -> done | cancelled
    pending -> done       (handled without a visit: a phone call, a message)
    pending -> cancelled  (no longer needed)
    scheduled -> pending  (reopen: the booked appointment was cancelled or missed; the link to it
                           is cleared and the follow-up is back in the front desk's queue)

`done` and `cancelled` are final. Scheduling names the appointment that fulfils the follow-up
(of the same patient).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from storage.errors import InvalidTransition


class FollowUpState(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    DONE = "done"
    CANCELLED = "cancelled"


class Action(StrEnum):
    SCHEDULE = "schedule"
    COMPLETE = "complete"
    CANCEL = "cancel"
    REOPEN = "reopen"


S, A = FollowUpState, Action
TRANSITIONS: Mapping[tuple[FollowUpState, Action], FollowUpState] = {
    (S.PENDING, A.SCHEDULE): S.SCHEDULED,
    (S.PENDING, A.COMPLETE): S.DONE,
    (S.PENDING, A.CANCEL): S.CANCELLED,
    (S.SCHEDULED, A.COMPLETE): S.DONE,
    (S.SCHEDULED, A.CANCEL): S.CANCELLED,
    (S.SCHEDULED, A.REOPEN): S.PENDING,
}
del S, A


def allowed_actions(state: FollowUpState) -> list[Action]:
    return [action for (current, action) in TRANSITIONS if current is state]


def next_state(current: FollowUpState, action: Action) -> FollowUpState:
    """The state after `action`; InvalidTransition (409) when the table has no such edge."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise InvalidTransition(
            "follow-up", current.value, action.value, [a.value for a in allowed_actions(current)]
        ) from None
