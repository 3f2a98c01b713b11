"""Issue 15, hole 6: live clinical data must reach exactly the people REST shows it to.

The attacks: a specialist of the clinic who does not treat a patient, or a receptionist,
subscribes to `patient:<id>` and watches reps, range of motion, cues and summaries while REST
answers 404/403 to the same people; and a specialist makes any patient of the clinic "theirs"
by assigning them a plan (or writing them a custom plan). One rule
(server/telerehab/_access.clinical_view) now decides REST and WebSocket alike.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from server import tokens
from server.resources import DB_KEY, EVENTS_KEY
from storage.types import Channel, Role
from tests.integration.sessions.conftest import Live, live, squats, stream  # noqa: F401

CLINICAL_TYPES = {"session.started", "exercise.started", "rep.counted", "form.cue",
                  "set.completed", "rest.started", "session.completed", "session.abandoned",
                  "tracking.lost", "tracking.ok", "session.paused"}  # fmt: skip


async def _other_specialist(env: Live) -> tuple[dict[str, str], str]:
    """A specialist of the same clinic (with a login) who has no appointment, grant or plan for
    anyone: their token's headers and their id."""
    user = uuid.uuid4()
    async with env.server.app[DB_KEY].platform() as conn:
        other = await conn.fetchval(
            "INSERT INTO specialists (organization_id, name, timezone, user_id) "
            "VALUES ($1, 'Dr Other', 'UTC', $2) RETURNING id",
            env.clinic.org_id,
            user,
        )
    token = tokens.issue(env.clinic.settings.secret, role=Role.SPECIALIST,
                         org_id=env.clinic.org_id, user_id=user, specialist_id=other)  # fmt: skip
    return {"Authorization": f"Bearer {token}"}, str(other)


async def _subscribe(env: Live, headers: dict[str, str], channel: str) -> dict[str, Any]:
    peer = await env.peer(headers)
    try:
        return await peer.call("subscribe", channel=channel)
    finally:
        await peer.close()


async def _plan(env: Live) -> str:
    status, plan = await env.post(
        "/v1/treatment-plans",
        env.clinic.admin,
        {"name": f"P {uuid.uuid4().hex[:6]}", "sessions": [{"name": "A", "exercises": [
            {"exercise_id": env.exercises["squat"], "sets": 1, "reps": 5, "rest_s": 0}]}]},
    )  # fmt: skip
    assert status == 201, plan
    status, body = await env.post(f"/v1/treatment-plans/{plan['id']}/publish", env.clinic.admin)
    assert status == 200, body
    return str(plan["id"])


async def test_a_specialist_who_does_not_treat_the_patient_gets_neither_rest_nor_channel(
    live: Live,  # noqa: F811
) -> None:
    clinic = live.clinic
    patient = clinic.patients[0]
    channel = f"patient:{patient}"
    other, _ = await _other_specialist(live)

    reply = await _subscribe(live, other, channel)
    assert reply["op"] == "error" and reply["error"]["code"] == "forbidden", reply
    for path in (f"/v1/patients/{patient}",
                 f"/v1/patients/{patient}/plan-assignments",
                 f"/v1/patients/{patient}/session-completions",
                 f"/v1/patients/{patient}/telemetry/rom-trend",
                 f"/v1/patients/{patient}/telemetry/activity"):  # fmt: skip
        status, _ = await live.get(path, other)
        assert status == 404, path

    # The treating specialist (an admin's grant, in the fixture) gets both; the owner neither.
    assert (await _subscribe(live, clinic.specialist, channel))["op"] == "ok"
    status, _ = await live.get(f"/v1/patients/{patient}/telemetry/rom-trend", clinic.specialist)
    assert status == 200
    reply = await _subscribe(live, clinic.headers(Role.OWNER), channel)
    assert reply["op"] == "error" and reply["error"]["code"] == "forbidden"
    # ... and nothing of patient 1, whom they do not treat.
    reply = await _subscribe(live, clinic.specialist, f"patient:{clinic.patients[1]}")
    assert reply["op"] == "error" and reply["error"]["code"] == "forbidden"


async def test_a_receptionist_on_a_patient_channel_receives_scheduling_but_no_clinical_event(
    live: Live,  # noqa: F811
) -> None:
    clinic = live.clinic
    channel = f"patient:{clinic.patients[0]}"
    receptionist = await live.peer(clinic.headers(Role.RECEPTIONIST))
    specialist = await live.peer(clinic.specialist)
    patient = await live.peer(clinic.patient(0))
    try:
        subscribed = await receptionist.call("subscribe", channel=channel)
        assert subscribed["op"] == "ok", subscribed
        since = subscribed["result"]["position"]
        assert (await specialist.call("subscribe", channel=channel))["op"] == "ok"
        status, _ = await live.get(
            f"/v1/patients/{clinic.patients[0]}/plan-assignments",
            clinic.headers(Role.RECEPTIONIST),
        )
        assert status == 403  # REST: no clinical records for the front desk

        session = await live.start()
        await stream(patient, session["id"], squats(reps=3))
        await specialist.wait_for(lambda e: e["type"] == "rep.counted")
        # A scheduling event after the clinical ones: once the receptionist has it, every
        # earlier event of the channel has been delivered to them or dropped for them.
        marker = str(uuid.uuid4())
        await live.server.app[EVENTS_KEY].publish(
            Channel.patient(clinic.patients[0]).name,
            "appointment.confirmed",
            {"appointment_id": marker},
        )
        await receptionist.wait_for(lambda e: e["data"].get("appointment_id") == marker)
        assert [e["type"] for e in receptionist.events] == ["appointment.confirmed"]
        assert CLINICAL_TYPES & set(specialist.types())

        # Replay (subscribe with `since`) is filtered the same way.
        late = await live.peer(clinic.headers(Role.RECEPTIONIST))
        try:
            again = await late.call("subscribe", channel=channel, since=since)
            assert again["op"] == "ok" and again["result"]["recovered"] is True
            await late.wait_for(lambda e: e["data"].get("appointment_id") == marker)
            assert [e["type"] for e in late.events] == ["appointment.confirmed"]
        finally:
            await late.close()
    finally:
        for peer in (receptionist, specialist, patient):
            await peer.close()


async def test_a_specialist_cannot_make_a_patient_theirs_by_prescribing(
    live: Live,  # noqa: F811
) -> None:
    clinic = live.clinic
    patient = clinic.patients[1]
    other, _ = await _other_specialist(live)
    plan_id = await _plan(live)
    today = "2026-12-02"
    assignment = {"plan_id": plan_id, "frequency": {"weekdays": [1]}, "starts_on": today}

    status, body = await live.post(f"/v1/patients/{patient}/plan-assignments", other, assignment)
    assert status == 403 and body["error"]["code"] == "care_team_required", body
    status, body = await live.post(
        f"/v1/treatment-plans/{plan_id}/clone", other,
        {"scope": "custom", "patient_id": str(patient)},
    )  # fmt: skip
    assert status == 403 and body["error"]["code"] == "care_team_required", body
    status, body = await live.post(
        "/v1/treatment-plans", other,
        {"name": "Mine now", "scope": "custom", "patient_id": str(patient),
         "sessions": [{"name": "A", "exercises": [
             {"exercise_id": live.exercises["squat"], "sets": 1, "reps": 5, "rest_s": 0}]}]},
    )  # fmt: skip
    assert status == 403 and body["error"]["code"] == "care_team_required", body
    reply = await _subscribe(live, other, f"patient:{patient}")
    assert reply["op"] == "error" and reply["error"]["code"] == "forbidden"
    status, _ = await live.get(f"/v1/patients/{patient}/plan-assignments", other)
    assert status == 404


async def test_an_admins_grant_opens_and_its_revocation_closes_access(
    live: Live,  # noqa: F811
) -> None:
    clinic = live.clinic
    patient = clinic.patients[1]
    channel = f"patient:{patient}"
    other, other_id = await _other_specialist(live)
    grant_path = f"/v1/patients/{patient}/care-team"

    # Only an admin grants: the specialist cannot grant themself, nor can the front desk.
    for who in (other, clinic.headers(Role.RECEPTIONIST)):
        status, _ = await live.post(grant_path, who, {"specialist_id": other_id})
        assert status == 403
    status, body = await live.post(grant_path, clinic.admin, {"specialist_id": other_id})
    assert status == 201 and body["active"] is True, body
    watching = await live.peer(other)
    try:
        assert (await watching.call("subscribe", channel=channel))["op"] == "ok"
        status, _ = await live.get(f"/v1/patients/{patient}/plan-assignments", other)
        assert status == 200
        # The same rule opens the patient's profile (one policy for every read of the patient).
        status, _ = await live.get(f"/v1/patients/{patient}", other)
        assert status == 200

        async with live.http.delete(
            live.url(f"{grant_path}/{other_id}"), headers=clinic.admin
        ) as r:
            assert r.status == 200 and (await r.json())["active"] is False
        # The subscription opened under the grant does not outlive it: the socket is closed
        # with 4003 (access revoked).
        async with asyncio.timeout(10):
            await watching.ws.wait_closed()
        assert watching.ws.close_code == 4003
    finally:
        await watching.close()
    for path in (f"/v1/patients/{patient}/plan-assignments", f"/v1/patients/{patient}"):
        status, _ = await live.get(path, other)
        assert status == 404, path
    reply = await _subscribe(live, other, channel)  # reconnected: decided anew, refused
    assert reply["op"] == "error" and reply["error"]["code"] == "forbidden"
    async with live.http.delete(live.url(f"{grant_path}/{other_id}"), headers=clinic.admin) as r:
        assert r.status == 404  # nothing left to revoke
