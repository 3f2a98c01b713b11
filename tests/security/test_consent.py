"""Issue 15, hole 11: consent is recorded, enforced and withdrawable.

The attacks: start a camera session for a patient who never agreed to one; store analytics
telemetry of a patient who never opted in (it used to default to yes); keep a live session (or
the analytics stream) running after the patient withdrew; rewrite or erase the ledger, or set a
patient's consent flag behind the ledger's back; read or write another patient's consents.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from server.resources import DB_KEY
from storage.types import Role
from tests.integration.sessions.conftest import Live, frames, live, squats  # noqa: F401
from tests.integration.telerehab.conftest import make_clinic


def _analytics(n: int) -> list[dict[str, Any]]:
    t = int(datetime.now(UTC).timestamp() * 1000)
    return [
        {"id": str(uuid.uuid4()), "type": "video.watch", "t": t,
         "data": {"exercise_id": str(uuid.uuid4()), "media_key": "v/1.mp4", "action": "play",
                  "position_s": i}}
        for i in range(n)
    ]  # fmt: skip


async def _stored(env: Live, patient: uuid.UUID) -> int:
    async with env.server.app[DB_KEY].platform() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM telemetry_events WHERE patient_id = $1", patient
            )
        )


async def test_a_camera_session_does_not_start_without_the_telerehab_consent(
    live: Live,  # noqa: F811
) -> None:
    clinic = live.clinic
    path = f"/v1/patients/{clinic.patients[0]}/consents"
    status, body = await live.post(path + "/telerehab_camera/withdraw", clinic.patient(0))
    assert status == 201 and body["granted"] is False, body
    for who in (clinic.patient(0), clinic.specialist, clinic.admin):
        status, body = await live.post(
            "/v1/telerehab/sessions", who, {"assignment_id": live.assignment_id}
        )
        assert status == 409, body
        assert body["error"]["code"] == "consent_required"
        assert body["error"]["details"] == {"purpose": "telerehab_camera"}
    # A consent to something else does not count; the camera consent does, at once.
    status, _ = await live.post(path, clinic.patient(0),
                                {"purpose": "analytics", "policy_version": "v1"})  # fmt: skip
    assert status == 201
    assert (await live.post("/v1/telerehab/sessions", clinic.patient(0),
                            {"assignment_id": live.assignment_id}))[0] == 409  # fmt: skip
    camera = {"purpose": "telerehab_camera", "policy_version": "v2"}
    status, _ = await live.post(path, clinic.admin, camera)
    assert status == 201
    assert (await live.start())["status"] == "active"


async def test_withdrawal_stops_the_live_session_at_once_and_tells_the_patient_why(
    live: Live,  # noqa: F811
) -> None:
    clinic = live.clinic
    patient = await live.peer(clinic.patient(0))
    try:
        assert (await patient.call("subscribe", channel=f"patient:{clinic.patients[0]}"))[
            "op"
        ] == "ok"
        session = await live.start()
        sid = session["id"]
        s = squats(reps=3)
        reply = await patient.call(
            "pose", session_id=sid, aspect=s.aspect_ratio, frames=frames(s, 0, 10)
        )
        assert reply["op"] == "ok", reply

        status, body = await live.post(
            f"/v1/patients/{clinic.patients[0]}/consents/telerehab_camera/withdraw",
            clinic.patient(0),
            {"channel": "app"},
        )
        assert status == 201 and body["granted"] is False and body["sessions_stopped"] == 1, body
        assert body["policy_version"] == "v1"  # the notice the grant was made under
        ended = await patient.wait_for(
            lambda e: e["type"] == "session.abandoned" and e["data"]["session_id"] == sid
        )
        assert ended["data"]["reason"] == "consent_withdrawn"
        # The session takes no more frames; REST says it was abandoned.
        reply = await patient.call(
            "pose", session_id=sid, aspect=s.aspect_ratio, frames=frames(s, 10, 20)
        )
        assert reply["op"] == "error" and reply["error"]["code"] == "session_ended", reply
        status, view = await live.get(f"/v1/telerehab/sessions/{sid}", clinic.patient(0))
        assert status == 200 and view["status"] == "abandoned", view
    finally:
        await patient.close()


async def test_analytics_telemetry_is_opt_in_dropped_without_consent_and_stops_at_withdrawal(
    live: Live,  # noqa: F811
) -> None:
    clinic = live.clinic
    who, patient_id = clinic.patient(1), clinic.patients[1]  # never asked: no consent
    status, body = await live.post("/v1/telemetry", who, {"events": _analytics(3)})
    assert status == 200 and body["accepted"] == 3 and body["discarded"] == 3, body
    assert await _stored(live, patient_id) == 0

    path = f"/v1/patients/{patient_id}/consents"
    status, _ = await live.post(path, who, {"purpose": "analytics", "policy_version": "v1"})
    assert status == 201
    status, body = await live.post("/v1/telemetry", who, {"events": _analytics(2)})
    assert body["discarded"] == 0, body
    assert await _stored(live, patient_id) == 2

    status, _ = await live.post(path + "/analytics/withdraw", who)
    assert status == 201
    status, body = await live.post("/v1/telemetry", who, {"events": _analytics(4)})
    assert body["accepted"] == 4 and body["discarded"] == 4, body
    assert await _stored(live, patient_id) == 2


async def test_the_ledger_records_who_when_and_how_and_lists_the_history(
    live: Live,  # noqa: F811
) -> None:
    clinic = live.clinic
    patient = clinic.patients[1]
    path = f"/v1/patients/{patient}/consents"
    receptionist = clinic.headers(Role.RECEPTIONIST)
    status, first = await live.post(path, receptionist, {"purpose": "treatment",
                                                         "policy_version": "2026-11"})  # fmt: skip
    assert status == 201, first
    assert first["channel"] == "front_desk" and first["recorded_role"] == "receptionist"
    assert first["ip"] == "127.0.0.1" and first["recorded_at"] and first["granted"] is True
    status, second = await live.post(path + "/treatment/withdraw", clinic.patient(1))
    assert status == 201 and second["channel"] == "app" and second["recorded_role"] == "patient"
    status, listed = await live.get(path, clinic.admin)
    assert status == 200
    assert [(c["purpose"], c["granted"]) for c in listed["data"]] == [
        ("treatment", False), ("treatment", True)
    ]  # fmt: skip
    assert listed["current"]["treatment"] is False and listed["current"]["analytics"] is False

    # Nobody else: another patient, the owner, a specialist who does not treat them.
    for who in (clinic.patient(0), clinic.headers(Role.OWNER)):
        assert (await live.get(path, who))[0] in (403, 404)
        status, _ = await live.post(path, who, {"purpose": "analytics", "policy_version": "x"})
        assert status in (403, 404)
    status, body = await live.post(path, clinic.admin, {"purpose": "nope", "policy_version": "1"})
    assert status == 422, body


async def test_another_clinic_cannot_read_or_write_the_ledger(
    live: Live,  # noqa: F811
) -> None:
    foreign = await make_clinic(live.clinic.settings, live.server.app[DB_KEY])
    path = f"/v1/patients/{live.clinic.patients[0]}/consents"
    assert (await live.get(path, foreign.admin))[0] == 404
    status, _ = await live.post(path + "/telerehab_camera/withdraw", foreign.admin)
    assert status == 404
    assert (await live.start())["status"] == "active"  # the consent still stands


async def test_the_application_role_cannot_rewrite_the_ledger_or_the_consent_flags(
    live: Live,  # noqa: F811
) -> None:
    clinic = live.clinic
    db = live.server.app[DB_KEY]
    async with db.tenant(clinic.org_id) as conn:
        before = await conn.fetchval(
            "SELECT count(*) FROM patient_consents WHERE patient_id = $1", clinic.patients[0]
        )
    assert before >= 1
    for statement in ("UPDATE patient_consents SET granted = true",
                      "DELETE FROM patient_consents",
                      "TRUNCATE patient_consents"):  # fmt: skip
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.tenant(clinic.org_id) as conn:
                await conn.execute(statement)
    # The flags on the patient mirror the ledger; writing them directly changes nothing.
    async with db.tenant(clinic.org_id) as conn:
        await conn.execute(
            "UPDATE patients SET consent_analytics = true, consent_telerehab = true WHERE id = $1",
            clinic.patients[1],
        )
        flags = await conn.fetchrow(
            "SELECT consent_analytics, consent_telerehab FROM patients WHERE id = $1",
            clinic.patients[1],
        )
        made = await conn.fetchval(
            "INSERT INTO patients (first_name, last_name, consent_analytics) "
            "VALUES ('New', 'Patient', true) RETURNING consent_analytics"
        )
    assert tuple(flags) == (False, False) and made is False
