"""Every (status, action) pair of the appointment state machine over REST: legal ones move to
the table's status, illegal ones answer 409 invalid_transition with the current status."""

from __future__ import annotations

import itertools

from storage.scheduling import TRANSITIONS, Action, AppointmentStatus
from tests.integration.scheduling.conftest import Api, day_at, z

PATH = {
    Action.CONFIRM: "confirm",
    Action.CHECK_IN: "check-in",
    Action.START: "start",
    Action.COMPLETE: "complete",
    Action.NO_SHOW: "no-show",
    Action.CANCEL: "cancel",
    Action.RESCHEDULE: "reschedule",
    Action.REOPEN: "reopen",
}
# The shortest legal route from booked to each status.
ROUTE = {
    AppointmentStatus.BOOKED: [],
    AppointmentStatus.CONFIRMED: [Action.CONFIRM],
    AppointmentStatus.CHECKED_IN: [Action.CONFIRM, Action.CHECK_IN],
    AppointmentStatus.IN_PROGRESS: [Action.CONFIRM, Action.CHECK_IN, Action.START],
    AppointmentStatus.COMPLETED: [Action.CONFIRM, Action.CHECK_IN, Action.START, Action.COMPLETE],
    AppointmentStatus.CANCELLED: [Action.CANCEL],
    AppointmentStatus.NO_SHOW: [Action.NO_SHOW],
}


def _body(action: Action, slot: int) -> dict[str, str] | None:
    if action is Action.CANCEL:
        return {"reason": "test"}
    if action is Action.RESCHEDULE:
        return {"start": z(day_at(60 + slot // 12, 8 + slot % 12))}
    return None


async def test_every_transition_legal_and_illegal(api: Api) -> None:
    sid = await api.specialist()
    calendar = await api.calendar([sid], horizon_days=200)
    patient = await api.patient()
    # A booking request's status and its decisions have their own routes
    # (tests/integration/live/test_booking_requests.py).
    pairs = list(itertools.product(ROUTE, PATH))
    assert len(pairs) == 56
    assert set(AppointmentStatus) - set(ROUTE) == {AppointmentStatus.REQUESTED}
    for n, (status, action) in enumerate(pairs):
        appt = await api.book_one(calendar["id"], patient, day_at(1 + n // 12, 8 + n % 12))
        for step in ROUTE[status]:
            await api.ok("POST", f"/v1/appointments/{appt['id']}/{PATH[step]}", _body(step, n))
        code, body = await api.call(
            "POST", f"/v1/appointments/{appt['id']}/{PATH[action]}", _body(action, n)
        )
        expected = TRANSITIONS.get((status, action))
        if expected is None:
            assert code == 409, (status, action, body)
            assert body["error"]["code"] == "invalid_transition"
            assert body["error"]["details"]["status"] == status.value
            assert body["error"]["details"]["action"] == action.value
        else:
            assert code == 200, (status, action, body)
            assert body["status"] == expected.value
            current = await api.ok("GET", f"/v1/appointments/{appt['id']}")
            assert current["status"] == expected.value
