"""The appointment state machine's table, checked exhaustively."""

from __future__ import annotations

import itertools

import pytest

from storage.scheduling import (
    EVENT_TYPES,
    TRANSITIONS,
    Action,
    AppointmentStatus,
    InvalidTransition,
    allowed_actions,
    next_status,
)

S, A = AppointmentStatus, Action
EXPECTED = {
    (S.BOOKED, A.CONFIRM): S.CONFIRMED,
    (S.BOOKED, A.CHECK_IN): S.CHECKED_IN,
    (S.BOOKED, A.CANCEL): S.CANCELLED,
    (S.BOOKED, A.NO_SHOW): S.NO_SHOW,
    (S.BOOKED, A.RESCHEDULE): S.BOOKED,
    (S.CONFIRMED, A.CHECK_IN): S.CHECKED_IN,
    (S.CONFIRMED, A.CANCEL): S.CANCELLED,
    (S.CONFIRMED, A.NO_SHOW): S.NO_SHOW,
    (S.CONFIRMED, A.RESCHEDULE): S.CONFIRMED,
    (S.CHECKED_IN, A.START): S.IN_PROGRESS,
    (S.CHECKED_IN, A.CANCEL): S.CANCELLED,
    (S.IN_PROGRESS, A.COMPLETE): S.COMPLETED,
    (S.COMPLETED, A.REOPEN): S.IN_PROGRESS,
    # A guest's booking request: staff approve or decline it, or it expires unanswered.
    (S.REQUESTED, A.APPROVE): S.BOOKED,
    (S.REQUESTED, A.DECLINE): S.CANCELLED,
    (S.REQUESTED, A.EXPIRE): S.CANCELLED,
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(S, A)))
def test_each_pair_is_legal_exactly_when_the_table_says(
    status: AppointmentStatus, action: Action
) -> None:
    if (status, action) in EXPECTED:
        assert next_status(status, action) is EXPECTED[(status, action)]
    else:
        with pytest.raises(InvalidTransition) as caught:
            next_status(status, action)
        assert caught.value.current == status.value and caught.value.action == action.value
        assert caught.value.allowed == [a.value for a in allowed_actions(status)]


def test_the_table_is_the_documented_one_and_terminal_states_have_no_exit() -> None:
    assert dict(TRANSITIONS) == EXPECTED
    for terminal in (S.CANCELLED, S.NO_SHOW):
        assert allowed_actions(terminal) == []
    # A completion made by mistake can be undone; nothing else leaves `completed`.
    assert allowed_actions(S.COMPLETED) == [A.REOPEN]


def test_only_cancelled_and_no_show_release_the_time() -> None:
    # Must match the exclusion constraint's WHERE (status NOT IN ('cancelled', 'no_show')).
    assert {s for s in S if not s.holds_time} == {S.CANCELLED, S.NO_SHOW}


def test_every_action_has_a_domain_event() -> None:
    assert set(EVENT_TYPES) == set(A)
    assert all(t.startswith("appointment.") for t in EVENT_TYPES.values())
