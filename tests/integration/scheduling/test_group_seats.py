"""Group sessions (a class of 8 seats) through the real calendar shard: seats in slots and
pushes, the database's own refusal of a ninth seat, attendance per participant, and the race of
200 holds for 8 seats."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from actors.calendar import messages as m
from server.resources import DB_KEY
from server.services import CALENDARS_KEY
from storage import scheduling as store
from storage.audit import AuditActor
from storage.types import Role
from tests.integration.live.conftest import Clinic
from tests.integration.scheduling.conftest import Api, day_at, new_org, z

SEATS = 8


@dataclass
class Class(Clinic):
    service_id: str = ""


async def make_class(client: TestClient[web.Request, web.Application], **calendar: Any) -> Class:
    api = Api(client, await new_org(client.app))
    specialist = await api.specialist()
    service = await api.service(name="Pilates", capacity=SEATS)
    created = await api.calendar([specialist], service_id=service["id"], **calendar)
    return Class(api, created["id"], specialist, await api.patient(), service["id"])


def _slot(body: dict[str, Any], start: str) -> dict[str, Any] | None:
    return next((s for s in body["slots"] if s["start"] == start), None)


async def _holds(clinic: Class, start: Any, n: int) -> list[m.Result]:
    commands = clinic.client.app[CALENDARS_KEY]
    cal = uuid.UUID(clinic.calendar_id)

    async def one() -> m.Result:
        caller = m.Caller(f"user:{uuid.uuid4()}", clinic.api.org_id, "receptionist")
        return await commands.hold(caller, cal, start)

    return list(await asyncio.gather(*(one() for _ in range(n))))


async def test_seats_fill_the_slot_and_a_freed_seat_brings_it_back(
    client: TestClient[web.Request, web.Application],
) -> None:
    clinic = await make_class(client, slot_interval_min=30)
    start, frm, to = day_at(2, 10), z(day_at(2, 0)), z(day_at(3, 0))
    before = await clinic.slots(frm, to)
    assert _slot(before, z(start)) == {
        "start": z(start), "end": z(day_at(2, 11)),
        "specialist_ids": [clinic.specialist_id], "seats_left": SEATS,
    }  # fmt: skip
    status, first = await clinic.hold(start)
    assert status == 201, first
    listed = _slot(await clinic.slots(frm, to), z(start))
    assert listed is not None and listed["seats_left"] == SEATS - 1
    # The push carries the seat count.
    deltas = await clinic.deltas_since(before["position"])
    assert [s["seats_left"] for d in deltas for s in d["upserted"]] == [SEATS - 1]
    # The neighbouring hours overlap the class: they are gone while it has participants.
    now_listed = await clinic.slots(frm, to)
    assert _slot(now_listed, z(day_at(2, 9, 30))) is None
    assert _slot(now_listed, z(day_at(2, 10, 30))) is None
    assert _slot(now_listed, z(day_at(2, 9))) is not None
    granted = [r for r in await _holds(clinic, start, SEATS) if isinstance(r, m.HoldGranted)]
    assert len(granted) == SEATS - 1
    assert _slot(await clinic.slots(frm, to), z(start)) is None  # full: not listed
    status, body = await clinic.hold(start)
    assert status == 409 and body["error"]["code"] == "slot_unavailable"
    status, _ = await clinic.api.call("DELETE", f"/v1/holds/{first['id']}")
    assert status == 204
    back = _slot(await clinic.slots(frm, to), z(start))
    assert back is not None and back["seats_left"] == 1


async def test_booked_seats_are_participants_with_their_own_attendance(
    client: TestClient[web.Request, web.Application],
) -> None:
    clinic = await make_class(client)
    start = day_at(3, 12)
    booked = []
    for _ in range(3):
        patient = await clinic.api.patient()
        status, hold = await clinic.hold(start)
        assert status == 201, hold
        status, appt = await clinic.api.call(
            "POST", "/v1/appointments", {"hold_id": hold["id"], "patient_id": patient}
        )
        assert status == 201, appt
        booked.append(appt)
    listed = _slot(await clinic.slots(z(day_at(3, 0)), z(day_at(4, 0))), z(start))
    assert listed is not None and listed["seats_left"] == SEATS - 3
    async with client.app[DB_KEY].tenant(clinic.api.org_id) as conn:
        session_id = await conn.fetchval(
            "SELECT group_session_id FROM appointments WHERE id = $1", uuid.UUID(booked[0]["id"])
        )
    assert session_id is not None
    status, _ = await clinic.api.call("POST", f"/v1/appointments/{booked[1]['id']}/no-show")
    assert status == 200
    status, _ = await clinic.api.call("POST", f"/v1/appointments/{booked[0]['id']}/check-in")
    assert status == 200
    session = await clinic.api.ok("GET", f"/v1/group-sessions/{session_id}")
    assert session["capacity"] == SEATS and session["seats_taken"] == 2
    attendance = {p["appointment_id"]: p["attendance"] for p in session["participants"]}
    assert attendance == {
        booked[0]["id"]: "attended",
        booked[1]["id"]: "no_show",
        booked[2]["id"]: "expected",
    }
    status, _ = await clinic.api.call("GET", f"/v1/group-sessions/{uuid.uuid4()}")
    assert status == 404
    # Lowering the capacity below the seats booked in a coming session is refused.
    status, body = await clinic.api.call(
        "PATCH", f"/v1/services/{clinic.service_id}", {"capacity": 1}
    )
    assert status == 422 and "capacity" in body["error"]["details"]["fields"], body
    status, body = await clinic.api.call(
        "PATCH", f"/v1/services/{clinic.service_id}", {"capacity": 3}
    )
    assert status == 200 and body["capacity"] == 3, body
    listed = _slot(await clinic.slots(z(day_at(3, 0)), z(day_at(4, 0))), z(start))
    assert listed is not None and listed["seats_left"] == 1


async def test_the_database_refuses_a_seat_past_capacity(
    client: TestClient[web.Request, web.Application],
) -> None:
    """Not only the shard: a ninth participant written straight to storage is refused, and a
    one-to-one booking over the class is refused by the exclusion constraint."""
    clinic = await make_class(client)
    start = day_at(4, 14)
    for r in await _holds(clinic, start, SEATS):
        assert isinstance(r, m.HoldGranted)
        patient = uuid.UUID(await clinic.api.patient())
        done = await client.app[CALENDARS_KEY].book(
            m.Caller(r.hold.holder, clinic.api.org_id, "receptionist"), r.hold.id,
            AuditActor(None, "receptionist"), patient_id=patient,
        )  # fmt: skip
        assert isinstance(done, m.Booked), done
    extra = uuid.UUID(await clinic.api.patient())
    actor = AuditActor(None, "system")
    async with client.app[DB_KEY].tenant(clinic.api.org_id) as conn:
        try:
            await store.insert_seat(
                conn, actor=actor, calendar_id=uuid.UUID(clinic.calendar_id),
                specialist_id=uuid.UUID(clinic.specialist_id), patient_id=extra,
                starts_at=start, hold_id=uuid.uuid4(),
            )  # fmt: skip
            raise AssertionError("a ninth seat was booked")
        except store.SlotUnavailable as exc:
            assert "full" in str(exc)
    async with client.app[DB_KEY].tenant(clinic.api.org_id) as conn:
        try:
            await store.insert_appointment(
                conn, uuid.UUID(clinic.calendar_id),
                store.NewAppointment(actor, uuid.UUID(clinic.specialist_id), extra, start),
            )  # fmt: skip
            raise AssertionError("a one-to-one booking overlapped the class")
        except store.SlotUnavailable:
            pass


async def test_200_holds_for_8_seats_grant_exactly_8_every_time(
    client: TestClient[web.Request, web.Application],
) -> None:
    clinic = await make_class(client)
    starts = [day_at(d, h) for d in range(1, 12) for h in range(8, 20, 2)][:100]
    for start in starts:
        results = await _holds(clinic, start, 200)
        granted = [r for r in results if isinstance(r, m.HoldGranted)]
        refused = [r for r in results if isinstance(r, m.Failure)]
        assert len(granted) == SEATS, (start, len(granted))
        assert len(refused) == 200 - SEATS and {f.status for f in refused} == {409}
        assert len({g.hold.seat for g in granted}) == SEATS
    status, body = await clinic.hold(starts[0], role=Role.RECEPTIONIST)
    assert status == 409, body
