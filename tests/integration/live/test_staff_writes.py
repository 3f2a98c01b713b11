"""Staff writes outside holds (reschedule, series) are made by the owning shard: a patient's
live hold is never booked over, no hold slips into a time while staff write it, and the shard
publishes the change before the write is acknowledged (no reload)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from actors.calendar import CalendarCommands, caller_of
from actors.calendar import messages as m
from server.resources import DB_KEY, KEYS_KEY, REDIS_KEY
from server.services import CALENDARS_KEY
from storage.audit import AuditActor
from storage.types import Principal, Role
from tests.integration.live.conftest import Clinic, day_at, z


async def _booked(clinic: Clinic, start: datetime) -> dict[str, Any]:
    """An appointment made the patient's way: hold, then book."""
    status, hold = await clinic.hold(start)
    assert status == 201, hold
    booked: dict[str, Any] = await clinic.api.ok(
        "POST", "/v1/appointments", {"hold_id": hold["id"], "patient_id": clinic.patient_id},
        expect=201,
    )  # fmt: skip
    return booked


async def _patient_hold(clinic: Clinic, start: datetime) -> dict[str, Any]:
    body = {"calendar_id": clinic.calendar_id, "start": z(start)}
    hold: dict[str, Any] = await clinic.api.ok(
        "POST", "/v1/holds", body, role=Role.PATIENT, patient_id=clinic.patient_id, expect=201
    )
    return hold


async def test_a_reschedule_into_a_patients_live_hold_is_refused_and_the_hold_still_books(
    clinic: Clinic,
) -> None:
    appt = await _booked(clinic, day_at(2, 9))
    held_at = day_at(2, 14)
    hold = await _patient_hold(clinic, held_at)

    status, body = await clinic.api.call(
        "POST", f"/v1/appointments/{appt['id']}/reschedule", {"start": z(held_at)},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    assert status == 409, body
    assert body["error"]["code"] == "slot_unavailable"
    assert [c["reason"] for c in body["error"]["details"]["conflicts"]] == ["held"]
    unchanged = await clinic.api.ok("GET", f"/v1/appointments/{appt['id']}")
    assert unchanged["start"] == z(day_at(2, 9))

    booked = await clinic.api.ok(
        "POST", "/v1/appointments", {"hold_id": hold["id"]}, role=Role.PATIENT,
        patient_id=clinic.patient_id, expect=201,
    )  # fmt: skip
    assert booked["start"] == z(held_at)
    # The refused write left nothing behind in the shard.
    assert (await clinic.shard_state())["holds"] == []


async def test_a_reschedule_takes_the_new_time_frees_the_old_one_at_once(
    clinic: Clinic,
) -> None:
    appt = await _booked(clinic, day_at(2, 9))
    before = await clinic.slots(z(day_at(2, 0)), z(day_at(3, 0)))
    moved = await clinic.api.ok(
        "POST", f"/v1/appointments/{appt['id']}/reschedule", {"start": z(day_at(2, 15))},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    assert moved["start"] == z(day_at(2, 15))
    after = await clinic.slots(z(day_at(2, 0)), z(day_at(3, 0)))
    starts = {s["start"] for s in after["slots"]}
    assert z(day_at(2, 15)) not in starts and z(day_at(2, 9)) in starts
    assert (await clinic.shard_state())["holds"] == []  # staff writes take no holds
    status, _ = await clinic.hold(day_at(2, 15))
    assert status == 409  # the appointment, not the guard, keeps it now

    # Every delta since `before` applied to it gives the shard's list: the move never
    # showed the new time as free in between.
    slots = {s["start"]: s for s in before["slots"]}
    for delta in await clinic.deltas_since(before["position"]):
        for gone in delta["removed"]:
            slots.pop(gone["start"], None)
        for slot in delta["upserted"]:
            assert slot["start"] != z(day_at(2, 15)), "the new time was pushed as free"
            slots[slot["start"]] = slot
    assert set(slots) >= starts


async def test_a_series_over_a_held_occurrence_books_nothing(clinic: Clinic) -> None:
    held_at = day_at(8, 10)
    await _patient_hold(clinic, held_at)
    status, body = await clinic.api.book(
        clinic.calendar_id, clinic.patient_id, day_at(1, 10), occurrences=3
    )
    assert status == 409, body
    conflicts = body["error"]["details"]["conflicts"]
    assert [(c["index"], c["reason"]) for c in conflicts] == [(1, "held")]
    listed = await clinic.api.ok("GET", f"/v1/appointments?calendar_id={clinic.calendar_id}")
    assert listed["data"] == []
    assert len((await clinic.shard_state())["holds"]) == 1  # only the patient's hold


async def _cache_hits(clinic: Clinic) -> float:
    """The server's hits on its appointment-to-calendar memory (its /metrics)."""
    response = await clinic.client.get("/metrics")
    text = await response.text()
    line = 'cadence_cache_lookups_total{cache="appointment_calendars",outcome="hit"} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].removeprefix(line)) if found else 0.0


async def test_a_cancel_finds_an_appointment_another_server_moved_to_another_calendar(
    clinic: Clinic,
) -> None:
    """This server remembers the calendar it booked the appointment in; another server then
    moves it to a second calendar. The cancel's first try names the old calendar, which its
    shard refuses with nothing written; the cancel then goes to the calendar Postgres names."""
    app = clinic.client.app
    other = await clinic.api.calendar([clinic.specialist_id])
    appt = await _booked(clinic, day_at(3, 9))

    # Another server process: its own command facade over the same shards.
    here = app[CALENDARS_KEY]
    pool = here._pool  # noqa: SLF001 - the shards' pool, shared as by two server processes
    elsewhere = CalendarCommands(pool, app[REDIS_KEY], app[KEYS_KEY], app[DB_KEY].app)
    admin = Principal(uuid.uuid4(), clinic.api.org_id, Role.ADMIN)
    span = m.Span(uuid.UUID(clinic.specialist_id), day_at(3, 11), day_at(3, 12))
    move = m.RescheduleAppointment(
        uuid.UUID(other["id"]), caller_of(admin), AuditActor(admin.user_id, "admin", None),
        uuid.UUID(appt["id"]), span, from_calendar=uuid.UUID(clinic.calendar_id),
    )  # fmt: skip
    moved = await elsewhere.write(move)
    assert isinstance(moved, m.Written), moved

    hits = await _cache_hits(clinic)
    cancelled = await clinic.api.ok(
        "POST", f"/v1/appointments/{appt['id']}/cancel", {"reason": "illness"},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    assert await _cache_hits(clinic) == hits + 1  # the first try named the remembered calendar
    assert cancelled["status"] == "cancelled"
    assert cancelled["calendar_id"] == other["id"]
    history = await clinic.api.ok("GET", f"/v1/appointments/{appt['id']}/history")
    assert [h["action"] for h in history["data"]] == ["book", "reschedule", "cancel"]

    # Remembered now in its new calendar: a second change goes there at once.
    status, body = await clinic.api.call(
        "POST", f"/v1/appointments/{appt['id']}/no-show", role=Role.RECEPTIONIST
    )
    assert status == 409 and body["error"]["code"] == "invalid_transition", body
    assert await _cache_hits(clinic) == hits + 2
    # The freed time is bookable on either calendar again.
    status, _ = await clinic.hold(day_at(3, 11))
    assert status == 201
