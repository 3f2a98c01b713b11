"""Issue 15, holes 1 and 8, as attacks against the real server: a patient id of clinic B used
from clinic A. Links to patients and specialists stop at the tenant's edge (composite keys), and
every check of "is this the patient" compares the organization AND the patient: a token of
clinic A carrying clinic B's patient id reaches none of clinic B's holds, bookings, sessions or
presence; two clinics' telemetry with the same event id and time never overwrite each other.

Tokens are minted with server.tokens as `cadence token` does: the forged one is a well-signed
token of clinic A whose `pid` is clinic B's patient (what a wrong link or a lax identity provider
would produce). Each refusal is checked, then the victim's own access is checked to still work,
so a refusal cannot pass by the feature being broken for everyone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY, SETTINGS_KEY
from storage.types import Role
from tests.integration.live.conftest import Api, day_at, make_clinic, z
from tests.integration.sessions import conftest as sessions
from tests.integration.sessions.conftest import Live, frames, squats
from tests.integration.telemetry.test_ingest import rep_event, tenant
from tests.integration.telerehab.conftest import make_clinic as make_telerehab_clinic

live = sessions.live

Client = TestClient[web.Request, web.Application]


def _refused(status: int, body: Any, *codes: int) -> None:
    """A refusal with the error envelope, never a 5xx."""
    assert status in codes, (status, body)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), body
    assert body["error"]["code"] and body["error"]["message"], body


def _fields(body: Any) -> dict[str, Any]:
    return dict(body["error"].get("details", {}).get("fields", {}))


async def _until_served(call: Callable[[], Awaitable[tuple[int, Any]]]) -> tuple[int, Any]:
    """`call` again while it answers 503 (its actors still starting on a busy machine), as a
    client does on Retry-After; at most a minute."""
    async with asyncio.timeout(60):
        while True:
            status, body = await call()
            if status != 503:
                return status, body
            await asyncio.sleep(1)


# --- hole 1: links of members to patients and specialists -----------------------------------


async def test_an_admin_cannot_link_a_member_to_another_clinics_patient_or_specialist(
    client: Client,
) -> None:
    a, b = await make_clinic(client), await make_clinic(client)
    suffix = uuid.uuid4().hex[:8]
    status, body = await a.api.call(
        "POST", "/v1/users",
        {"email": f"p-{suffix}@example.test", "role": "patient", "patient_id": b.patient_id},
    )  # fmt: skip
    _refused(status, body, 422)
    assert "patient_id" in _fields(body)
    status, body = await a.api.call(
        "POST", "/v1/users",
        {"email": f"s-{suffix}@example.test", "role": "specialist",
         "specialist_id": b.specialist_id},
    )  # fmt: skip
    _refused(status, body, 422)
    assert "specialist_id" in _fields(body)

    # The clinic's own patient links; moving the link to clinic B's patient does not.
    member = await a.api.ok(
        "POST", "/v1/users",
        {"email": f"own-{suffix}@example.test", "role": "patient", "patient_id": a.patient_id},
        expect=201,
    )  # fmt: skip
    status, body = await a.api.call(
        "PATCH", f"/v1/users/{member['id']}", {"patient_id": b.patient_id}
    )
    _refused(status, body, 422)
    assert "patient_id" in _fields(body)
    status, body = await a.api.call(
        "PATCH", f"/v1/users/{member['id']}", {"role": "specialist",
                                               "specialist_id": b.specialist_id},
    )  # fmt: skip
    _refused(status, body, 422)
    after = await a.api.ok("GET", f"/v1/users/{member['id']}")
    assert after["patient_id"] == a.patient_id and after["role"] == "patient"

    # The constraint is the proof: even the application role, writing SQL directly in clinic
    # A's transaction, cannot point a membership at clinic B's rows.
    db = client.app[DB_KEY]
    for role, patient, specialist in (
        ("patient", uuid.UUID(b.patient_id), None),
        ("specialist", None, uuid.UUID(b.specialist_id)),
    ):
        try:
            async with db.tenant(a.api.org_id) as conn:
                await conn.execute(
                    """UPDATE memberships SET role = $2, patient_id = $3, specialist_id = $4
                       WHERE user_id = $1""",
                    uuid.UUID(member["id"]), role, patient, specialist,
                )  # fmt: skip
        except asyncpg.ForeignKeyViolationError:
            continue
        raise AssertionError(f"a membership of clinic A took clinic B's {role}")


# --- hole 1: holds and bookings --------------------------------------------------------------


class _Socket:
    """A JSON WebSocket on the test client: `call` sends one op and returns its reply."""

    def __init__(self, client: Client, token: str) -> None:
        self._client, self._token, self._ids = client, token, 0

    async def __aenter__(self) -> _Socket:
        self._ws = await self._client.ws_connect(
            "/v1/ws", headers={"Authorization": f"Bearer {self._token}"}
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._ws.close()

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        self._ids += 1
        await self._ws.send_json({"id": self._ids, "op": op, **fields})
        async with asyncio.timeout(15):
            while True:
                reply: dict[str, Any] = await self._ws.receive_json()
                if reply.get("id") == self._ids:
                    return reply


async def test_a_forged_patient_of_another_clinic_cannot_release_or_book_its_patients_hold(
    client: Client,
) -> None:
    b = await make_clinic(client)  # the victim: a clinic with a public calendar
    a = await make_clinic(client)  # the attacker's clinic
    victim = uuid.UUID(b.patient_id)
    status, hold = await _until_served(
        lambda: b.api.call(
            "POST", "/v1/holds", {"calendar_id": b.calendar_id, "start": z(day_at(3, 10))},
            role=Role.PATIENT, patient_id=victim,
        )
    )  # fmt: skip
    assert status == 201, hold

    forged = Api(client, a.api.org_id)  # clinic A's token, clinic B's patient id
    status, body = await forged.call(
        "DELETE", f"/v1/holds/{hold['id']}", role=Role.PATIENT, patient_id=victim
    )
    _refused(status, body, 404)
    status, body = await forged.call(
        "POST", "/v1/appointments", {"hold_id": hold["id"]}, role=Role.PATIENT, patient_id=victim
    )
    _refused(status, body, 404)
    status, body = await forged.call(
        "POST", "/v1/holds", {"calendar_id": b.calendar_id, "start": z(day_at(3, 11))},
        role=Role.PATIENT, patient_id=victim,
    )  # fmt: skip
    _refused(status, body, 404)

    # The same over the WebSocket ops.
    async with _Socket(client, forged.token(Role.PATIENT, patient_id=victim)) as ws:
        reply = await ws.call("release", hold_id=hold["id"])
        assert reply["op"] == "error" and reply["error"]["code"] == "not_found", reply
        reply = await ws.call("hold", calendar_id=b.calendar_id, start=z(day_at(3, 12)))
        assert reply["op"] == "error" and reply["error"]["code"] == "not_found", reply

    # Clinic A's staff may hold for their own patients only, not on behalf of clinic B's.
    status, body = await a.api.call(
        "POST", "/v1/holds",
        {"calendar_id": a.calendar_id, "start": z(day_at(3, 13)), "patient_id": b.patient_id},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    _refused(status, body, 422)
    assert "patient_id" in _fields(body)

    # The victim's hold was untouched: clinic B's patient books it.
    status, appt = await b.api.call(
        "POST", "/v1/appointments", {"hold_id": hold["id"]}, role=Role.PATIENT, patient_id=victim
    )
    assert status == 201 and appt["patient_id"] == b.patient_id, appt


async def test_a_booking_cannot_name_another_clinics_patient(client: Client) -> None:
    a, b = await make_clinic(client), await make_clinic(client)
    status, hold = await _until_served(lambda: a.hold(day_at(4, 10), role=Role.RECEPTIONIST))
    assert status == 201, hold
    status, body = await a.api.call(
        "POST", "/v1/appointments", {"hold_id": hold["id"], "patient_id": b.patient_id},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    _refused(status, body, 404, 422)
    status, body = await a.api.book(a.calendar_id, b.patient_id, day_at(4, 14))
    _refused(status, body, 404, 422)
    conn = await asyncpg.connect(client.app[SETTINGS_KEY].database_url)
    try:
        booked = await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE patient_id = $1", uuid.UUID(b.patient_id)
        )
    finally:
        await conn.close()
    assert booked == 0  # nothing anywhere names clinic B's patient


# --- hole 1: a live telerehab session --------------------------------------------------------


async def test_a_forged_patient_of_another_clinic_cannot_drive_its_patients_live_session(
    live: Live,
) -> None:
    b = live.clinic  # the victim's clinic; its patient 0 has the assigned plan
    status, started = await _until_served(
        lambda: live.post(
            "/v1/telerehab/sessions", b.patient(0), {"assignment_id": live.assignment_id}
        )
    )
    assert status == 201, started
    sid = started["id"]
    a = await make_telerehab_clinic(b.settings, b.db)
    forged = a.headers(Role.PATIENT, patient_id=b.patients[0])

    attacker = await live.peer(forged)
    try:
        for op in ("session.pause", "session.skip", "session.abandon", "session.done"):
            reply = await attacker.call(op, session_id=sid)
            assert reply["op"] == "error" and reply["error"]["code"] == "not_found", (op, reply)
        s = squats(reps=2, seed=5)
        reply = await attacker.call("pose", session_id=sid, aspect=s.aspect_ratio,
                                    frames=frames(s, 0, 10))  # fmt: skip
        assert reply["op"] == "error" and reply["error"]["code"] == "not_found", reply
        times = [float(t) for t in s.t_ms[10:20]]
        payload = np.ascontiguousarray(s.landmarks[10:20], dtype="<f4").tobytes()
        reply = await attacker.binary(
            {"op": "pose.landmarks", "session_id": sid, "t": times, "aspect": s.aspect_ratio},
            payload,
        )
        assert reply["op"] == "error" and reply["error"]["code"] == "not_found", reply
        reply = await attacker.binary(
            {"op": "pose.frame", "session_id": sid, "t": times[0]}, b"\xff\xd8not-a-real-jpeg"
        )
        assert reply["op"] == "error" and reply["error"]["code"] == "not_found", reply

        # Nor does the forged token make clinic B's patient look connected to its staff.
        staff = await live.peer(b.admin)
        try:
            reply = await staff.call("presence", channel=f"patient:{b.patients[0]}")
            assert reply["op"] == "ok" and reply["result"]["connected"] is False, reply
        finally:
            await staff.close()
    finally:
        await attacker.close()
    status, body = await live.post(f"/v1/telerehab/sessions/{sid}/pause", forged)
    _refused(status, body, 404)

    status, state = await live.get(f"/v1/telerehab/sessions/{sid}", b.admin)
    assert status == 200, state
    assert state["status"] == "active", state  # not paused, abandoned or done
    assert state["current"]["exercise_id"] == live.exercises["squat"]  # not skipped
    assert state["current"]["reps"] == 0 and state["frames"]["received"] == 0

    # The session's own patient still drives it.
    patient = await live.peer(b.patient(0))
    try:
        reply = await patient.call("session.pause", session_id=sid)
        assert reply["op"] == "ok" and reply["result"]["status"] == "paused", reply
    finally:
        await patient.close()


# --- hole 8: telemetry keys ------------------------------------------------------------------


async def test_two_clinics_sending_the_same_event_id_and_time_both_keep_their_event(
    client: Client, settings: Any
) -> None:
    a, b = await tenant(settings), await tenant(settings)
    session, exercise = str(uuid.uuid4()), str(uuid.uuid4())
    event = rep_event(session, exercise, 1, 40.0)
    theirs = {**event, "data": {**event["data"], "rom_deg": 80.0}}  # same id, same t
    for clinic, sent in ((a, event), (b, theirs), (a, event)):  # A, then B, then A's resend
        headers = clinic.auth(clinic.patient_token)

        async def send(sent: Any = sent, headers: Any = headers) -> tuple[int, Any]:
            response = await client.post("/v1/telemetry", json={"events": [sent]}, headers=headers)
            return response.status, await response.json()

        status, body = await _until_served(send)
        assert status == 200 and body["accepted"] == 1, body

    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            """SELECT organization_id, patient_id, (data->>'rom_deg')::float8 AS rom
               FROM telemetry_events WHERE event_id = $1""",
            uuid.UUID(event["id"]),
        )
    finally:
        await conn.close()
    stored = {r["organization_id"]: (r["patient_id"], r["rom"]) for r in rows}
    assert len(rows) == 2, rows  # one each; the resend stored nothing new
    assert stored == {a.org: (a.patient, 40.0), b.org: (b.patient, 80.0)}

    # Each clinic's rollup counts its own event once.
    for clinic, rom in ((a, 40.0), (b, 80.0)):
        trend = await client.get(
            f"/v1/patients/{clinic.patient}/telemetry/rom-trend",
            headers=clinic.auth(clinic.admin_token),
        )
        assert trend.status == 200, await trend.text()
        day = (await trend.json())["exercises"][exercise][0]
        assert day["reps"] == 1 and day["rom_mean"] == rom, day
