"""Holds, booking through a hold, and the public booking flow against real Ray, Redis and
Postgres."""

from __future__ import annotations

import asyncio
import uuid

from storage.types import Role
from tests.integration.live.conftest import Clinic, day_at, z


async def test_a_hold_removes_the_slot_and_booking_keeps_it_removed(clinic: Clinic) -> None:
    start = day_at(3, 10)
    before = await clinic.slots(z(day_at(3, 0)), z(day_at(4, 0)))
    assert z(start) in [s["start"] for s in before["slots"]]
    status, hold = await clinic.hold(start)
    assert status == 201, hold
    assert hold["start"] == z(start) and hold["specialist_id"] == clinic.specialist_id
    after = await clinic.slots(z(day_at(3, 0)), z(day_at(4, 0)))
    assert z(start) not in [s["start"] for s in after["slots"]]
    deltas = await clinic.deltas_since(before["position"])
    assert [r["start"] for d in deltas for r in d["removed"]] == [z(start)]
    status, appt = await clinic.api.call(
        "POST", "/v1/appointments", {"hold_id": hold["id"], "patient_id": clinic.patient_id}
    )
    assert status == 201, appt
    assert appt["status"] == "booked" and appt["start"] == z(start)
    # A retried booking answers with the same appointment.
    status, again = await clinic.api.call(
        "POST", "/v1/appointments", {"hold_id": hold["id"], "patient_id": clinic.patient_id}
    )
    assert status == 201 and again["id"] == appt["id"]
    final = await clinic.slots(z(day_at(3, 0)), z(day_at(4, 0)))
    assert z(start) not in [s["start"] for s in final["slots"]]


async def test_second_hold_on_a_taken_slot_is_409_and_not_a_slot_is_422(clinic: Clinic) -> None:
    status, _ = await clinic.hold(day_at(3, 11))
    assert status == 201
    status, body = await clinic.hold(day_at(3, 11), role=Role.RECEPTIONIST)
    assert status == 409 and body["error"]["code"] == "slot_unavailable"
    status, body = await clinic.hold(day_at(3, 11, 17))
    assert status == 422 and "start" in body["error"]["details"]["fields"]
    status, body = await clinic.hold(day_at(3, 22))
    assert status == 422


async def test_release_frees_the_slot_and_publishes(clinic: Clinic) -> None:
    start = day_at(4, 9)
    status, hold = await clinic.hold(start)
    assert status == 201
    before = await clinic.slots(z(day_at(4, 0)), z(day_at(5, 0)))
    status, _ = await clinic.api.call("DELETE", f"/v1/holds/{hold['id']}")
    assert status == 204
    deltas = await clinic.deltas_since(before["position"])
    assert [s["start"] for d in deltas for s in d["upserted"]] == [z(start)]
    status, _ = await clinic.api.call("DELETE", f"/v1/holds/{hold['id']}")
    assert status == 204  # releasing again is a no-op
    status, body = await clinic.api.call(
        "POST", "/v1/appointments", {"hold_id": hold["id"], "patient_id": clinic.patient_id}
    )
    assert status == 410 and body["error"]["code"] == "hold_expired"
    status, _ = await clinic.api.call("DELETE", f"/v1/holds/{uuid.uuid4()}")
    assert status == 404


async def test_a_new_hold_of_the_same_patient_replaces_the_old(clinic: Clinic) -> None:
    pid = clinic.patient_id
    status, first = await clinic.hold(day_at(5, 9), role=Role.PATIENT, patient_id=None)
    assert status == 422  # patients may not name a patient_id field as null: schema refuses
    first_status, first = await clinic.api.call(
        "POST", "/v1/holds", {"calendar_id": clinic.calendar_id, "start": z(day_at(5, 9))},
        role=Role.PATIENT, patient_id=uuid.UUID(pid),
    )  # fmt: skip
    assert first_status == 201, first
    status, second = await clinic.api.call(
        "POST", "/v1/holds", {"calendar_id": clinic.calendar_id, "start": z(day_at(5, 10))},
        role=Role.PATIENT, patient_id=uuid.UUID(pid),
    )  # fmt: skip
    assert status == 201 and second["replaced_hold_id"] == first["id"]
    view = await clinic.slots(z(day_at(5, 0)), z(day_at(6, 0)))
    starts = [s["start"] for s in view["slots"]]
    assert z(day_at(5, 9)) in starts and z(day_at(5, 10)) not in starts
    # The patient books their own hold; the replaced one is gone (410).
    status, body = await clinic.api.call(
        "POST", "/v1/appointments", {"hold_id": first["id"]}, role=Role.PATIENT,
        patient_id=uuid.UUID(pid),
    )  # fmt: skip
    assert status == 410, body
    status, appt = await clinic.api.call(
        "POST", "/v1/appointments", {"hold_id": second["id"]}, role=Role.PATIENT,
        patient_id=uuid.UUID(pid),
    )  # fmt: skip
    assert status == 201 and appt["patient_id"] == pid


async def test_idempotency_key_returns_the_same_hold(clinic: Clinic) -> None:
    body = {"calendar_id": clinic.calendar_id, "start": z(day_at(6, 12))}
    token = clinic.api.token(Role.RECEPTIONIST)
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "retry-1"}
    answers = await asyncio.gather(
        *(clinic.client.post("/v1/holds", json=body, headers=headers) for _ in range(5))
    )
    bodies = [await a.json() for a in answers]
    assert [a.status for a in answers] == [201] * 5, bodies
    assert len({b["id"] for b in bodies}) == 1


async def test_public_flow_hold_token_booking_and_guest(clinic: Clinic) -> None:
    client = clinic.client
    start = day_at(7, 14)
    r = await client.post(
        "/v1/public/holds", json={"calendar_id": clinic.calendar_id, "start": z(start)}
    )
    assert r.status == 201
    hold = await r.json()
    assert len(hold["hold_token"]) >= 32
    bad = await client.post("/v1/public/bookings", json={
        "hold_id": hold["id"], "hold_token": "x" * 40,
        "contact": {"name": "Ana Pop", "email": "ana@example.com", "phone": "+40 700 000 000"},
    })  # fmt: skip
    assert bad.status == 404
    r = await client.post("/v1/public/bookings", json={
        "hold_id": hold["id"], "hold_token": hold["hold_token"],
        "contact": {"name": "Ana Pop", "email": "ana@example.com", "phone": "+40 700 000 000"},
    })  # fmt: skip
    assert r.status == 201, await r.text()
    appt = await r.json()
    assert appt["status"] == "booked" and "patient_id" not in appt
    listed = await clinic.api.ok("GET", f"/v1/appointments/{appt['id']}")
    patient = await clinic.api.ok("GET", f"/v1/patients/{listed['patient_id']}")
    assert patient["first_name"] == "Ana" and patient["last_name"] == "Pop"

    # She comes back as a guest (the phone written differently, another e-mail): the same
    # patient record, not a second one; a new contact is a new guest patient.
    async def guest_booking(hour: int, contact: dict[str, str]) -> str:
        r = await client.post(
            "/v1/public/holds",
            json={"calendar_id": clinic.calendar_id, "start": z(day_at(7, hour))},
        )
        hold = await r.json()
        r = await client.post("/v1/public/bookings", json={
            "hold_id": hold["id"], "hold_token": hold["hold_token"], "contact": contact,
        })  # fmt: skip
        assert r.status == 201, await r.text()
        booked = await clinic.api.ok("GET", f"/v1/appointments/{(await r.json())['id']}")
        return str(booked["patient_id"])

    again = {"name": "Ana P.", "email": "other@example.com", "phone": "+40700000000"}
    assert await guest_booking(15, again) == listed["patient_id"]
    stranger = {"name": "Ion Ionescu", "email": "ion@example.com", "phone": "+40 711 111 111"}
    assert await guest_booking(16, stranger) != listed["patient_id"]


async def test_public_release_needs_the_token_and_private_calendars_are_hidden(
    clinic: Clinic,
) -> None:
    client = clinic.client
    r = await client.post(
        "/v1/public/holds", json={"calendar_id": clinic.calendar_id, "start": z(day_at(8, 9))}
    )
    hold = await r.json()
    r = await client.delete(f"/v1/public/holds/{hold['id']}", headers={"X-Hold-Token": "y" * 40})
    assert r.status == 404
    r = await client.delete(
        f"/v1/public/holds/{hold['id']}", headers={"X-Hold-Token": hold["hold_token"]}
    )
    assert r.status == 204
    await clinic.api.ok("PATCH", f"/v1/calendars/{clinic.calendar_id}", {"public": False})
    # The calendar edit notifies the owning shard: the public view is gone at once.
    r = await client.get(f"/v1/public/calendars/{clinic.calendar_id}/slots")
    assert r.status == 404


async def test_a_resent_hold_gets_the_hold_its_first_send_was_granted(clinic: Clinic) -> None:
    """The pool resends a request whose call failed (the shard may have granted it before it
    died) as `again()`: the shard then answers with the hold the first send got."""
    from actors.calendar import messages as m
    from server.services import CALENDARS_KEY

    pool = clinic.client.app[CALENDARS_KEY]._pool  # noqa: SLF001 - the shard's own contract
    calendar = uuid.UUID(clinic.calendar_id)
    caller = m.Caller(f"staff:{uuid.uuid4()}", clinic.api.org_id, "receptionist")
    first = m.HoldRequest(calendar, caller, day_at(6, 14), None, uuid.uuid4().hex)
    granted = await pool.call(calendar, first)
    assert isinstance(granted, m.HoldGranted)
    again = await pool.call(calendar, first.again())
    assert isinstance(again, m.HoldGranted) and again.hold.id == granted.hold.id
    # Without the mark a generated key is taken as new: the slot is this caller's own hold.
    fresh = await pool.call(calendar, first)
    assert isinstance(fresh, m.Failure) and fresh.status == 409
