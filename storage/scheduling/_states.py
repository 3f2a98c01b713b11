"""The appointment state machine: statuses, actions, and the one table of legal transitions.

    booked -> confirmed -> checked_in -> in_progress -> completed
    booked | confirmed | checked_in -> cancelled;  booked | confirmed -> no_show
    requested -> booked (staff approve a guest's request); requested -> cancelled (declined,
    or expired unanswered)

A reschedule is an action too: it moves a booked or confirmed appointment and keeps its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from storage.scheduling._errors import InvalidTransition


class AppointmentStatus(StrEnum):
    REQUESTED = "requested"  # a guest's booking request: occupies its time until decided
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"

    @property
    def holds_time(self) -> bool:
        """Whether the appointment still occupies its specialist's time (the exclusion
        constraint's WHERE clause says the same)."""
        return self not in RELEASED


RELEASED = frozenset({AppointmentStatus.CANCELLED, AppointmentStatus.NO_SHOW})


class Action(StrEnum):
    CONFIRM = "confirm"
    CHECK_IN = "check_in"
    START = "start"
    COMPLETE = "complete"
    CANCEL = "cancel"
    NO_SHOW = "no_show"
    RESCHEDULE = "reschedule"
    REOPEN = "reopen"
    # A booking request's decisions (storage/scheduling/_requests.py): only these move it.
    APPROVE = "approve"
    DECLINE = "decline"
    EXPIRE = "expire"


S, A = AppointmentStatus, Action
TRANSITIONS: Mapping[tuple[AppointmentStatus, Action], AppointmentStatus] = {
    (S.BOOKED, A.CONFIRM): S.CONFIRMED,
    (S.BOOKED, A.CHECK_IN): S.CHECKED_IN,  # a patient who arrives before anyone confirmed
    (S.BOOKED, A.CANCEL): S.CANCELLED,
    (S.BOOKED, A.NO_SHOW): S.NO_SHOW,
    (S.BOOKED, A.RESCHEDULE): S.BOOKED,
    (S.CONFIRMED, A.CHECK_IN): S.CHECKED_IN,
    (S.CONFIRMED, A.CANCEL): S.CANCELLED,
    (S.CONFIRMED, A.NO_SHOW): S.NO_SHOW,
    (S.CONFIRMED, A.RESCHEDULE): S.CONFIRMED,
    (S.CHECKED_IN, A.START): S.IN_PROGRESS,
    (S.CHECKED_IN, A.CANCEL): S.CANCELLED,  # arrived, then left before the session began
    (S.IN_PROGRESS, A.COMPLETE): S.COMPLETED,
    # Completed by mistake: back to in progress; a plan session it used is given back
    # (the redemption trigger of the catalog migration).
    (S.COMPLETED, A.REOPEN): S.IN_PROGRESS,
    (S.REQUESTED, A.APPROVE): S.BOOKED,
    (S.REQUESTED, A.DECLINE): S.CANCELLED,
    (S.REQUESTED, A.EXPIRE): S.CANCELLED,
}
del S, A

# The domain event each action publishes (PROTOCOL.md: appointment.* on org and patient channels).
EVENT_TYPES: Mapping[Action, str] = {
    Action.CONFIRM: "appointment.confirmed",
    Action.CHECK_IN: "appointment.checked_in",
    Action.START: "appointment.started",
    Action.COMPLETE: "appointment.completed",
    Action.CANCEL: "appointment.cancelled",
    Action.NO_SHOW: "appointment.no_show",
    Action.RESCHEDULE: "appointment.rescheduled",
    Action.REOPEN: "appointment.reopened",
    Action.APPROVE: "appointment.request_confirmed",
    Action.DECLINE: "appointment.request_declined",
    Action.EXPIRE: "appointment.request_expired",
}
BOOKED_EVENT = "appointment.booked"
REQUESTED_EVENT = "appointment.requested"


def allowed_actions(status: AppointmentStatus) -> list[Action]:
    return [action for (state, action) in TRANSITIONS if state is status]


def next_status(current: AppointmentStatus, action: Action) -> AppointmentStatus:
    """The status after `action`; raises InvalidTransition when the table has no such edge."""
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise InvalidTransition(
            current.value, action.value, [a.value for a in allowed_actions(current)]
        ) from None
