"""Appointments: recurring series all-or-nothing, reschedule, cancel with records, events,
and who may see or move which appointment."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from storage.types import Channel, Role
from tests.integration.scheduling.conftest import Api, day_at, z


async def _count(client: TestClient[web.Request, web.Application], org: object) -> int:
    async with client.app[DB_KEY].platform() as conn:
        return int(
            await conn.fetchval("SELECT count(*) FROM appointments WHERE organization_id = $1", org)
        )


async def test_ten_weekly_sessions_are_booked_with_one_specialist(api: Api) -> None:
    a, b = await api.specialist("A"), await api.specialist("B")
    calendar = await api.calendar([a, b])
    patient = await api.patient()
    status, body = await api.book(calendar["id"], patient, day_at(1, 9), occurrences=10)
    assert status == 201, body
    appts = body["appointments"]
    assert [x["start"] for x in appts] == [z(day_at(1 + 7 * k, 9)) for k in range(10)]
    assert {x["specialist_id"] for x in appts} == {a}  # the preferred one, free for all ten
    assert {x["series_id"] for x in appts} == {body["series_id"]}
    assert [x["series_index"] for x in appts] == list(range(10))
    assert all(x["status"] == "booked" for x in appts)


async def test_a_series_with_conflicts_books_nothing_and_lists_each_conflict(
    api: Api, client: TestClient[web.Request, web.Application]
) -> None:
    sid = await api.specialist()
    calendar = await api.calendar([sid])
    first, second = await api.patient("First"), await api.patient("Second")
    blocker = await api.book_one(calendar["id"], first, day_at(1 + 14, 9))
    day_off = day_at(1 + 21, 9).date().isoformat()
    await api.ok(
        "POST", f"/v1/specialists/{sid}/overrides", {"date": day_off, "hours": []}, expect=201
    )
    before = await _count(client, api.org_id)
    status, body = await api.book(calendar["id"], second, day_at(1, 9), occurrences=6)
    assert status == 409 and body["error"]["code"] == "slot_unavailable"
    conflicts = body["error"]["details"]["conflicts"]
    assert [(c["index"], c["reason"]) for c in conflicts] == [(2, "busy"), (3, "unavailable")]
    assert conflicts[0]["appointments"][0]["appointment_id"] == blocker["id"]
    assert conflicts[0]["start"] == z(day_at(15, 9))
    assert await _count(client, api.org_id) == before  # all or nothing


async def test_series_keeps_local_wall_time_across_a_dst_change(api: Api) -> None:
    sid = await api.specialist("Bucharest")
    await api.ok("PATCH", f"/v1/specialists/{sid}", {"timezone": "Europe/Bucharest"})
    calendar = await api.calendar([sid], timezone="Europe/Bucharest")
    patient = await api.patient()
    # The series spans the last Sunday of October of next year (EEST -> EET).
    oct31 = day_at(0, 7).replace(year=day_at(0, 0).year + 1, month=10, day=31)
    last_sunday = oct31 - timedelta(days=oct31.isoweekday() % 7)
    status, body = await api.book(
        calendar["id"], patient, last_sunday - timedelta(days=10), occurrences=3
    )
    assert status == 201, body
    # 10:00 local each week: 07:00Z in summer time, 08:00Z once winter time began.
    hours = [x["start"][11:16] for x in body["appointments"]]
    assert hours[0] == "07:00" and hours[-1] == "08:00"


async def test_reschedule_moves_atomically_and_keeps_history(api: Api) -> None:
    a, b = await api.specialist("A"), await api.specialist("B")
    calendar = await api.calendar([a, b])
    patient, other_patient = await api.patient(), await api.patient("Other")
    appt = await api.book_one(calendar["id"], patient, day_at(2, 10), specialist_id=a)
    await api.book_one(calendar["id"], other_patient, day_at(2, 12), specialist_id=a)
    await api.ok("POST", f"/v1/appointments/{appt['id']}/confirm")

    # Half an hour later overlaps its own old time: allowed, the old time is released.
    moved = await api.ok(
        "POST",
        f"/v1/appointments/{appt['id']}/reschedule",
        {"start": z(day_at(2, 11))},
        role=Role.RECEPTIONIST,
    )
    assert moved["id"] == appt["id"] and moved["status"] == "confirmed"
    assert moved["start"] == z(day_at(2, 11)) and moved["end"] == z(day_at(2, 12))
    status, body = await api.call(
        "POST", f"/v1/appointments/{appt['id']}/reschedule", {"start": z(day_at(2, 12))}
    )
    assert status == 409 and body["error"]["code"] == "slot_unavailable"
    moved = await api.ok(
        "POST",
        f"/v1/appointments/{appt['id']}/reschedule",
        {"start": z(day_at(2, 12)), "specialist_id": b},
    )
    assert moved["specialist_id"] == b

    history = (await api.ok("GET", f"/v1/appointments/{appt['id']}/history"))["data"]
    assert [h["action"] for h in history] == ["book", "confirm", "reschedule", "reschedule"]
    assert history[2]["from_start"] == z(day_at(2, 10)) and history[2]["start"] == z(day_at(2, 11))
    assert history[3]["from_specialist_id"] == a and history[3]["specialist_id"] == b
    status, body = await api.call(
        "POST", f"/v1/appointments/{appt['id']}/reschedule", {"start": z(day_at(2, 8, 30))}
    )
    assert status == 409 and body["error"]["details"]["conflicts"][0]["reason"] == "unavailable"


async def test_cancel_records_reason_frees_the_time_and_lists_per_patient(api: Api) -> None:
    sid = await api.specialist()
    calendar = await api.calendar([sid])
    patient, other_patient = await api.patient(), await api.patient("Other")
    appt = await api.book_one(calendar["id"], patient, day_at(3, 9))
    cancelled = await api.ok(
        "POST",
        f"/v1/appointments/{appt['id']}/cancel",
        {"reason": "patient_cancelled", "note": "flu"},
        role=Role.RECEPTIONIST,
    )
    assert cancelled["status"] == "cancelled"
    records = await api.ok("GET", f"/v1/patients/{patient}/cancellations")
    assert records["next_cursor"] is None
    (record,) = records["data"]
    assert record["appointment_id"] == appt["id"] and record["reason"] == "patient_cancelled"
    assert record["note"] == "flu" and record["original_start"] == z(day_at(3, 9))
    assert record["cancelled_by_role"] == "receptionist"
    await api.book_one(calendar["id"], other_patient, day_at(3, 9))  # the time is free again
    status, body = await api.call(
        "POST", f"/v1/appointments/{appt['id']}/cancel", {"reason": "again"}
    )
    assert status == 409 and body["error"]["details"]["status"] == "cancelled"
    status, _ = await api.call("POST", f"/v1/appointments/{appt['id']}/cancel", {"note": "x"})
    assert status == 422


async def test_state_changes_publish_events_on_org_and_patient_channels(api: Api) -> None:
    sid = await api.specialist()
    calendar = await api.calendar([sid])
    patient = await api.patient()
    org_channel, patient_channel = (
        Channel.org(api.org_id),
        Channel.patient(uuid.UUID(patient)),
    )
    org_start = await api.position(org_channel)
    patient_start = await api.position(patient_channel)
    appt = await api.book_one(calendar["id"], patient, day_at(2, 9))
    await api.ok("POST", f"/v1/appointments/{appt['id']}/confirm")
    await api.ok("POST", f"/v1/appointments/{appt['id']}/reschedule", {"start": z(day_at(2, 10))})
    await api.ok("POST", f"/v1/appointments/{appt['id']}/cancel", {"reason": "clinic"})
    types = [
        "appointment.booked",
        "appointment.confirmed",
        "appointment.rescheduled",
        "appointment.cancelled",
    ]
    patient_events = await api.events_since(patient_channel, patient_start)
    assert [e["type"] for e in patient_events] == types
    org_events = [
        e
        for e in await api.events_since(org_channel, org_start)
        if e["type"].startswith("appointment.")
    ]
    assert [e["type"] for e in org_events] == types
    booked = patient_events[0]["data"]
    assert booked["appointment_id"] == appt["id"] and booked["start"] == z(day_at(2, 9))
    assert "first_name" not in booked and "email" not in booked
    assert patient_events[2]["data"]["previous"]["start"] == z(day_at(2, 9))


async def test_specialists_and_patients_see_and_move_only_their_own(api: Api) -> None:
    a, b = await api.specialist("A"), await api.specialist("B")
    calendar = await api.calendar([a, b])
    p1, p2 = await api.patient("One"), await api.patient("Two")
    mine = await api.book_one(calendar["id"], p1, day_at(2, 9), specialist_id=a)
    theirs = await api.book_one(calendar["id"], p2, day_at(2, 9), specialist_id=b)
    as_a: dict[str, Any] = {"role": Role.SPECIALIST, "specialist_id": uuid.UUID(a)}
    listed = await api.ok("GET", "/v1/appointments", **as_a)
    assert [x["id"] for x in listed["data"]] == [mine["id"]]
    status, _ = await api.call("POST", f"/v1/appointments/{theirs['id']}/confirm", **as_a)
    assert status == 404
    confirmed = await api.ok("POST", f"/v1/appointments/{mine['id']}/confirm", **as_a)
    assert confirmed["status"] == "confirmed"
    status, _ = await api.call(
        "POST", f"/v1/appointments/{mine['id']}/cancel", {"reason": "x"}, **as_a
    )
    assert status == 403  # cancelling is the front desk's
    # A specialist sees the patients they treat, not the others.
    patients = await api.ok("GET", "/v1/patients", **as_a)
    assert [p["id"] for p in patients["data"]] == [p1]

    as_p1: dict[str, Any] = {"role": Role.PATIENT, "patient_id": uuid.UUID(p1)}
    listed = await api.ok("GET", "/v1/appointments", **as_p1)
    assert [x["id"] for x in listed["data"]] == [mine["id"]]
    status, _ = await api.call("GET", f"/v1/appointments/{theirs['id']}", **as_p1)
    assert status == 404
    assert (await api.ok("GET", f"/v1/patients/{p1}", **as_p1))["id"] == p1
    status, _ = await api.call("GET", f"/v1/patients/{p2}", **as_p1)
    assert status == 404
    status, _ = await api.call("GET", "/v1/appointments", role=Role.OWNER)
    assert status == 403


async def test_appointment_list_filters_and_pages_by_start(api: Api) -> None:
    sid = await api.specialist()
    calendar = await api.calendar([sid])
    patient = await api.patient()
    status, body = await api.book(calendar["id"], patient, day_at(1, 9), occurrences=5)
    assert status == 201
    window = f"from={z(day_at(1, 0))}&to={z(day_at(1, 0) + timedelta(days=15))}"
    page = await api.ok("GET", f"/v1/appointments?{window}&limit=2&specialist_id={sid}")
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = await api.ok("GET", f"/v1/appointments?{window}&limit=2&cursor={page['next_cursor']}")
    assert [x["start"] for x in page["data"] + rest["data"]] == [
        z(day_at(1 + 7 * k, 9)) for k in range(3)
    ]
    status, _ = await api.call("GET", "/v1/appointments?status=lost")
    assert status == 422
