"""Follow-ups: every cell of the state machine through REST (allowed moves answer the new state,
refused ones 409 with the allowed actions), the appointment that fulfils one must be the
patient's, the front desk's queue and who sees it, bad input in the error envelope, the
`follow_up.changed` pushes (no reason in them) and the dashboard's card."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from storage.follow_ups import TRANSITIONS, Action, FollowUpState
from tests.integration.records.notes.conftest import Clinic, assert_envelope, make_clinic

Client = TestClient[web.Request, web.Application]
DELETE_PATIENT = "UPDATE patients SET deleted_at = now() WHERE id = $1"  # a soft delete
# How to bring a new (pending) follow-up to each state.
PATHS: dict[FollowUpState, list[Action]] = {
    FollowUpState.PENDING: [],
    FollowUpState.SCHEDULED: [Action.SCHEDULE],
    FollowUpState.DONE: [Action.COMPLETE],
    FollowUpState.CANCELLED: [Action.CANCEL],
}


async def _create(
    clinic: Clinic, who: str = "A", patient: int = 0, due_on: str = "2026-12-20", **extra: Any
) -> dict[str, Any]:
    status, created = await clinic.call(
        "POST",
        f"/v1/patients/{clinic.patients[patient]}/follow-ups",
        who,
        {"reason": "Re-check the knee", "due_on": due_on, **extra},
    )
    assert status == 201, created
    assert isinstance(created, dict)
    return created


async def _act(
    clinic: Clinic, follow_up: str, action: Action, who: str = "receptionist", **body: Any
) -> tuple[int, Any]:
    if action is Action.SCHEDULE and not body:
        body = {"appointment_id": str(clinic.appointments["p0_later"])}
    return await clinic.call(
        "POST", f"/v1/follow-ups/{follow_up}/{action.value}", who, body or None
    )


async def test_every_transition_cell(clinic: Clinic) -> None:
    for state, path in PATHS.items():
        for action in Action:
            follow_up = await _create(clinic)
            current = follow_up
            for step in path:
                status, current = await _act(clinic, follow_up["id"], step)
                assert status == 200, current
            assert current["state"] == state
            status, answer = await _act(clinic, follow_up["id"], action)
            target = TRANSITIONS.get((state, action))
            if target is None:
                error = assert_envelope(status, answer, 409, "invalid_transition")
                allowed = [a.value for (s, a) in TRANSITIONS if s is state]
                assert error["details"] == {
                    "status": state.value, "action": action.value, "allowed": allowed,
                }, (state, action)  # fmt: skip
                continue
            assert status == 200, (state, action, answer)
            assert answer["state"] == target.value, (state, action)
            linked = answer["scheduled_appointment_id"]
            if target is FollowUpState.PENDING:  # reopened: the appointment fell through
                assert linked is None
            elif target is FollowUpState.SCHEDULED or state is FollowUpState.SCHEDULED:
                assert linked == str(clinic.appointments["p0_later"])
            else:
                assert linked is None
    # The table the tests walked is the documented one.
    assert {(s.value, a.value, t.value) for (s, a), t in TRANSITIONS.items()} == {
        ("pending", "schedule", "scheduled"),
        ("pending", "complete", "done"),
        ("pending", "cancel", "cancelled"),
        ("scheduled", "complete", "done"),
        ("scheduled", "cancel", "cancelled"),
        ("scheduled", "reopen", "pending"),
    }


async def test_the_fulfilling_appointment_is_the_patients(clinic: Clinic) -> None:
    follow_up = await _create(clinic, from_appointment_id=str(clinic.appointments["p0"]))
    assert follow_up["from_appointment_id"] == str(clinic.appointments["p0"])
    fid = follow_up["id"]
    for appointment, message in (
        (clinic.appointments["p1"], "is not an appointment of this patient"),
        (uuid.uuid4(), "is not an appointment of this patient"),
        (clinic.appointments["p0_cancelled"], "is cancelled"),
    ):
        status, answer = await _act(clinic, fid, Action.SCHEDULE, appointment_id=str(appointment))
        error = assert_envelope(status, answer, 422, "validation_failed")
        assert error["details"]["fields"] == {"appointment_id": message}
    for body in ({}, {"appointment_id": "x"}, {"appointment_id": None}):
        status, answer = await clinic.call(
            "POST", f"/v1/follow-ups/{fid}/schedule", "receptionist", body
        )
        assert_envelope(status, answer, 422, "validation_failed")
    # A refused transition is 409 whatever appointment the body names.
    status, _ = await _act(clinic, fid, Action.CANCEL)
    assert status == 200
    status, answer = await _act(
        clinic, fid, Action.SCHEDULE, appointment_id=str(clinic.appointments["p1"])
    )
    assert_envelope(status, answer, 409, "invalid_transition")
    status, got = await clinic.call("GET", f"/v1/follow-ups/{fid}", "receptionist")
    assert status == 200 and got["state"] == "cancelled" and got["scheduled_appointment_id"] is None


async def test_the_front_desk_queue(clinic: Clinic, client: Client) -> None:
    early = await _create(clinic, due_on="2026-12-10")
    late = await _create(clinic, due_on="2026-12-30")
    other_patients = await _create(clinic, "admin", patient=1, due_on="2026-12-15")
    done = await _create(clinic, due_on="2026-12-01")
    await _act(clinic, done["id"], Action.COMPLETE)

    async def queue(who: str, query: str) -> list[str]:
        status, page = await clinic.call("GET", f"/v1/follow-ups?{query}", who)
        assert status == 200, page
        return [f["id"] for f in page["data"]]

    assert await queue("receptionist", "state=pending") == [
        early["id"], other_patients["id"], late["id"],
    ]  # fmt: skip
    assert await queue("receptionist", "state=pending&due_before=2026-12-30") == [
        early["id"], other_patients["id"],
    ]  # fmt: skip
    assert await queue("admin", "") == [done["id"], early["id"], other_patients["id"], late["id"]]
    assert await queue("admin", f"patient_id={clinic.patients[1]}") == [other_patients["id"]]
    # Specialists see their patients' follow-ups: B treats patient 0 only, C nobody.
    assert await queue("B", "state=pending") == [early["id"], late["id"]]
    assert await queue("C", "") == []

    # Paged by (due date, id).
    status, page = await clinic.call("GET", "/v1/follow-ups?state=pending&limit=2", "admin")
    assert [f["id"] for f in page["data"]] == [early["id"], other_patients["id"]]
    status, rest = await clinic.call(
        "GET", f"/v1/follow-ups?state=pending&limit=2&cursor={page['next_cursor']}", "admin"
    )
    assert [f["id"] for f in rest["data"]] == [late["id"]] and rest["next_cursor"] is None

    # One follow-up: the front desk reads the reason; others get 404 or 403.
    status, got = await clinic.call("GET", f"/v1/follow-ups/{early['id']}", "receptionist")
    assert status == 200 and got["reason"] == "Re-check the knee" and got["due_on"] == "2026-12-10"
    other = await make_clinic(client)
    for caller, who, expected in (
        (clinic, "C", 404), (clinic, "patient0", 403), (clinic, "owner", 403),
        (other, "admin", 404), (other, "receptionist", 404),
    ):  # fmt: skip
        status, answer = await caller.call("GET", f"/v1/follow-ups/{early['id']}", who)
        assert status == expected, (who, answer)
        status, answer = await _act(caller, early["id"], Action.CANCEL, who)
        assert status == expected, (who, answer)
    assert await queue("admin", "state=pending") != []
    status, answer = await other.call("GET", "/v1/follow-ups", "admin")
    assert status == 200 and answer["data"] == []

    # A deleted patient's follow-ups leave the queue (and are not found by id).
    async with client.app[DB_KEY].platform() as conn:
        await conn.execute(DELETE_PATIENT, clinic.patients[1])
    assert await queue("receptionist", "state=pending") == [early["id"], late["id"]]
    status, _ = await clinic.call("GET", f"/v1/follow-ups/{other_patients['id']}", "admin")
    assert status == 404


async def test_creation_rules_and_bad_input(clinic: Clinic) -> None:
    path = f"/v1/patients/{clinic.patients[0]}/follow-ups"
    good = {"reason": "Re-check", "due_on": "2026-12-20"}
    cases: list[tuple[str, object, int, str]] = [
        ("A", {**good, "due_on": "2026-13-01"}, 422, "validation_failed"),
        ("A", {**good, "due_on": 20261220}, 422, "validation_failed"),
        ("A", {**good, "reason": "  "}, 422, "validation_failed"),
        ("A", {**good, "reason": "x" * 501}, 422, "validation_failed"),
        ("A", {"due_on": "2026-12-20"}, 422, "validation_failed"),
        ("A", {**good, "state": "done"}, 422, "validation_failed"),
        ("A", {**good, "from_appointment_id": str(clinic.appointments["p1"])}, 422,
         "validation_failed"),
        ("receptionist", good, 403, "forbidden"),  # clinicians ask for follow-ups
        ("patient0", good, 403, "forbidden"),
        ("C", good, 404, "not_found"),  # not their patient
    ]  # fmt: skip
    for who, body, expected, code in cases:
        status, answer = await clinic.call("POST", path, who, body)
        assert_envelope(status, answer, expected, code)
    for query in (
        "state=open",
        "due_before=tomorrow",
        "patient_id=1",
        "limit=500",
        "cursor=x",
        "cursor=WyJ4IiwieSJd",
    ):  # fmt: skip  (the last: ["x","y"])
        status, answer = await clinic.call("GET", f"/v1/follow-ups?{query}", "admin")
        assert_envelope(status, answer, 422, "validation_failed")
    status, answer = await clinic.call(
        "POST", f"/v1/follow-ups/{uuid.uuid4()}/complete", "admin", {}
    )
    assert_envelope(status, answer, 404, "not_found")
    created = await _create(clinic)
    status, answer = await clinic.call(
        "POST", f"/v1/follow-ups/{created['id']}/complete", "admin", {"why": 1}
    )
    assert_envelope(status, answer, 422, "validation_failed")
    status, listed = await clinic.call("GET", "/v1/follow-ups", "admin")
    assert [f["id"] for f in listed["data"]] == [created["id"]]


async def test_changes_are_pushed_without_the_reason(clinic: Clinic) -> None:
    since = await clinic.position()
    created = await _create(clinic, "A", due_on="2026-12-20")
    await _act(clinic, created["id"], Action.SCHEDULE)
    await _act(clinic, created["id"], Action.COMPLETE)
    frames = [f for f in await clinic.events(since) if f["type"] == "follow_up.changed"]
    base = {"id": created["id"], "patient_id": str(clinic.patients[0]), "due_on": "2026-12-20"}
    assert [f["data"] for f in frames] == [
        {**base, "state": "pending"},
        {**base, "state": "scheduled"},
        {**base, "state": "done"},
    ]
    assert b"knee" not in orjson.dumps(frames).lower()


async def test_the_dashboard_counts_pending_follow_ups_due(clinic: Clinic) -> None:
    async def card() -> int:
        status, snapshot = await clinic.call("GET", "/v1/dashboard", "receptionist")
        assert status == 200, snapshot
        due: int = snapshot["cards"]["follow_ups_due"]
        return due

    assert await card() == 0
    past = (date.today() - timedelta(days=3)).isoformat()
    due = await _create(clinic, due_on=past)
    await _create(clinic, due_on=past)
    await _create(clinic, due_on=(date.today() + timedelta(days=30)).isoformat())
    assert await card() == 2
    await _act(clinic, due["id"], Action.SCHEDULE)
    assert await card() == 1
    other_patients = await _create(clinic, "admin", patient=1, due_on=past)
    assert await card() == 2
    async with clinic.client.app[DB_KEY].platform() as conn:
        await conn.execute(DELETE_PATIENT, clinic.patients[1])
    assert await card() == 1, other_patients
