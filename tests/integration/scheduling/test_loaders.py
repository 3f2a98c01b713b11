"""storage.scheduling loaders and writes, as the calendar actors will call them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from pipelines.availability import (
    AssignmentStrategy,
    BusyInterval,
    RollingHorizon,
    WeeklyInterval,
    compute_slots,
)
from server.resources import DB_KEY
from server.seed import seed_demo
from storage import audit
from storage import scheduling as store
from tests.integration.scheduling.conftest import Api, day_at


async def test_load_calendar_builds_the_engines_rules_and_busy_time(
    api: Api, client: TestClient[web.Request, web.Application]
) -> None:
    a = await api.specialist("A", hours=[{"weekday": 1, "start": "09:00", "end": "24:00"}])
    b = await api.specialist("B")
    service = await api.service(duration_min=30, buffer_after_min=5)
    calendar = await api.calendar(
        [a, b],
        service["id"],
        assignment="round_robin",
        daily_cap=3,
        slot_interval_min=15,
        hours=[{"weekday": d, "start": "06:00", "end": "22:00"} for d in range(1, 8)],
    )
    await api.ok(
        "PATCH",
        f"/v1/calendars/{calendar['id']}",
        {
            "specialists": [
                {
                    "id": a,
                    "priority": 1,
                    "hours": [{"weekday": 1, "start": "10:00", "end": "11:00"}],
                },
                {"id": b, "priority": 0},
            ]
        },
    )
    day = day_at(3, 0).date()
    await api.ok(
        "POST",
        f"/v1/specialists/{b}/overrides",
        {"date": day.isoformat(), "hours": [{"start": "12:00", "end": "13:00"}]},
        expect=201,
    )
    patient = await api.patient()
    appt = await api.book_one(calendar["id"], patient, day_at(3, 12), specialist_id=b)

    async with client.app[DB_KEY].tenant(api.org_id) as conn:
        rules, busy = await store.load_calendar(conn, uuid.UUID(calendar["id"]))
        counts = await store.load_assignment_counts(conn, uuid.UUID(calendar["id"]))
    assert rules.id == uuid.UUID(calendar["id"]) and rules.timezone == "UTC"
    assert (rules.duration_min, rules.slot_interval_min) == (30, 15)
    assert (rules.buffer_before_min, rules.buffer_after_min) == (0, 5)
    assert rules.assignment is AssignmentStrategy.ROUND_ROBIN and rules.daily_cap == 3
    assert rules.horizon == RollingHorizon(120)
    assert rules.hours is not None and len(rules.hours) == 7
    assert rules.hours[0] == WeeklyInterval(1, time(6), time(22))
    members = {m.specialist.id: m for m in rules.specialists}
    ma, mb = members[uuid.UUID(a)], members[uuid.UUID(b)]
    assert ma.priority == 1 and ma.hours == (WeeklyInterval(1, time(10), time(11)),)
    assert ma.specialist.weekly_hours == (WeeklyInterval(1, time(9), time(0)),)  # 24:00
    assert mb.hours is None and len(mb.specialist.weekly_hours) == 7
    assert [(o.date, [(r.start, r.end) for r in o.hours]) for o in mb.specialist.overrides] == [
        (day, [(time(12), time(13))])
    ]
    assert busy == [BusyInterval(uuid.UUID(b), day_at(3, 12), day_at(3, 12, 30))]
    assert counts == {uuid.UUID(a): 0, uuid.UUID(b): 1}

    async with client.app[DB_KEY].tenant(api.org_id) as conn:
        before, after = await store.cancel_appointment(
            conn, actor=audit.SYSTEM, appointment_id=uuid.UUID(appt["id"]), reason="test"
        )
        _, busy = await store.load_calendar(conn, uuid.UUID(calendar["id"]))
    assert before.status is store.AppointmentStatus.BOOKED
    assert after.status is store.AppointmentStatus.CANCELLED and busy == []


async def test_insert_from_a_hold_is_idempotent_and_tenant_scoped(
    api: Api, other: Api, client: TestClient[web.Request, web.Application]
) -> None:
    sid = await api.specialist()
    calendar = await api.calendar([sid])
    patient = await api.patient()
    hold = uuid.uuid4()
    db = client.app[DB_KEY]
    cal = uuid.UUID(calendar["id"])
    args: dict[str, Any] = {
        "actor": audit.SYSTEM,
        "specialist_id": uuid.UUID(sid),
        "patient_id": uuid.UUID(patient),
        "starts_at": day_at(2, 10),
        "hold_id": hold,
    }

    def wanted(**over: Any) -> store.NewAppointment:
        return store.NewAppointment(**{**args, **over})

    async with db.tenant(api.org_id) as conn:
        first = await store.insert_appointment(conn, cal, wanted())
    async with db.tenant(api.org_id) as conn:
        again = await store.insert_appointment(conn, cal, wanted())
    assert again.id == first.id and first.ends_at == day_at(2, 11)
    async with db.tenant(api.org_id) as conn:
        with pytest.raises(store.SlotUnavailable) as caught:
            await store.insert_appointment(
                conn, cal, wanted(hold_id=uuid.uuid4(), starts_at=day_at(2, 10, 30))
            )
    assert caught.value.conflicts[0]["appointment_id"] == first.id
    async with db.tenant(other.org_id) as conn:
        with pytest.raises(store.NotFound):
            await store.load_calendar(conn, cal)
        with pytest.raises(store.NotFound):
            await store.insert_appointment(conn, cal, wanted(hold_id=None))
    async with db.tenant(api.org_id) as conn:
        with pytest.raises(store.InvalidReference):
            await store.insert_appointment(conn, cal, wanted(hold_id=None, patient_id=uuid.uuid4()))


async def test_a_batch_of_bookings_answers_each_row_alone(
    api: Api, client: TestClient[web.Request, web.Application]
) -> None:
    """One statement books the batch; a row refused (taken by an earlier row of the batch or
    before it, an unknown patient or specialist, an end before the start) leaves the others
    booked, and a hold booked before answers with its appointment."""
    sid, other_sid = await api.specialist(), await api.specialist()
    cal = uuid.UUID((await api.calendar([sid]))["id"])
    patient = uuid.UUID(await api.patient())
    db = client.app[DB_KEY]
    booked_hold = uuid.uuid4()

    def wanted(start: datetime, **over: Any) -> store.NewAppointment:
        base = {"actor": audit.SYSTEM, "specialist_id": uuid.UUID(sid), "patient_id": patient}
        return store.NewAppointment(starts_at=start, **{**base, **over})

    async with db.tenant(api.org_id) as conn:
        earlier = await store.insert_appointment(
            conn, cal, wanted(day_at(3, 8), hold_id=booked_hold)
        )
    batch = [
        wanted(day_at(3, 10), hold_id=uuid.uuid4()),
        wanted(day_at(3, 10, 30)),  # overlaps the row before it
        wanted(day_at(3, 12), patient_id=uuid.uuid4()),
        wanted(day_at(3, 13), specialist_id=uuid.UUID(other_sid)),  # not of this calendar
        wanted(day_at(3, 14), ends_at=day_at(3, 14)),
        wanted(day_at(3, 8), hold_id=booked_hold),  # a retry
        wanted(day_at(3, 8, 30)),  # overlaps the one booked before the batch
        wanted(day_at(3, 16)),
    ]
    async with db.tenant(api.org_id) as conn:
        answers = await store.insert_appointments(conn, cal, batch)
    kinds = [type(a).__name__ for a in answers]
    assert kinds == [
        "Appointment", "SlotUnavailable", "InvalidReference", "InvalidReference",
        "InvalidReference", "Appointment", "SlotUnavailable", "Appointment",
    ]  # fmt: skip
    new = [a for a in answers if isinstance(a, store.Appointment)]
    assert new[1].id == earlier.id and {new[0].id, new[2].id} == {batch[0].id, batch[7].id}
    assert isinstance(answers[1], store.SlotUnavailable)
    assert answers[1].conflicts[0]["appointment_id"] == new[0].id
    async with db.tenant(api.org_id) as conn:
        stored = await conn.fetch(
            "SELECT id FROM appointments WHERE calendar_id = $1 ORDER BY starts_at", cal
        )
        history = await conn.fetchval(
            "SELECT count(*) FROM appointment_history WHERE appointment_id = ANY($1::uuid[])",
            [a.id for a in new],
        )
        audited = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'appointment.book'"
            " AND entity_id = ANY($1::text[])",
            [str(a.id) for a in new],
        )
        assignments = await conn.fetchval(
            "SELECT assignments FROM calendar_specialists WHERE calendar_id = $1", cal
        )
    assert [r["id"] for r in stored] == [earlier.id, new[0].id, new[2].id]
    assert history == 3 and audited == 3 and assignments == 3


async def test_a_move_to_another_specialist_or_calendar_checks_both_in_storage(
    api: Api, client: TestClient[web.Request, web.Application]
) -> None:
    """Storage refuses a specialist who is not of the target calendar (the shard refuses it
    first; this is the database's own check), and a move to another calendar takes that
    calendar's service and duration."""
    sid, outsider = await api.specialist(), await api.specialist("Outsider")
    cal = uuid.UUID((await api.calendar([sid]))["id"])
    longer = await api.service(duration_min=90)
    other = uuid.UUID((await api.calendar([sid], service_id=longer["id"]))["id"])
    patient = uuid.UUID(await api.patient())
    db = client.app[DB_KEY]
    async with db.tenant(api.org_id) as conn:
        booked = await store.insert_appointment(
            conn, cal, store.NewAppointment(audit.SYSTEM, uuid.UUID(sid), patient, day_at(4, 9))
        )
    async with db.tenant(api.org_id) as conn:
        with pytest.raises(store.InvalidReference) as refused:
            await store.reschedule_appointment(
                conn, actor=audit.SYSTEM, appointment_id=booked.id, starts_at=day_at(4, 11),
                specialist_id=uuid.UUID(outsider),
            )  # fmt: skip
    assert refused.value.field == "specialist_id"
    async with db.tenant(api.org_id) as conn:
        _, moved = await store.reschedule_appointment(
            conn, actor=audit.SYSTEM, appointment_id=booked.id, starts_at=day_at(4, 11),
            calendar_id=other,
        )  # fmt: skip
    assert (moved.calendar_id, str(moved.service_id)) == (other, longer["id"])
    assert moved.ends_at - moved.starts_at == timedelta(minutes=90)


async def test_calendar_visibility_answers_without_a_tenant_context(
    api: Api, client: TestClient[web.Request, web.Application]
) -> None:
    sid = await api.specialist()
    public = await api.calendar([sid])
    private = await api.calendar([sid], public=False)
    async with client.app[DB_KEY].anonymous() as conn:
        assert await conn.fetch("SELECT * FROM calendars") == []  # RLS: nothing without an org
        rows = {
            cid: await conn.fetchrow("SELECT * FROM calendar_visibility($1)", uuid.UUID(cid))
            for cid in (public["id"], private["id"])
        }
        missing = await conn.fetchrow("SELECT * FROM calendar_visibility($1)", uuid.uuid4())
    assert dict(rows[public["id"]]) == {"organization_id": api.org_id, "public": True}
    assert dict(rows[private["id"]]) == {"organization_id": api.org_id, "public": False}
    assert missing is None


async def test_demo_seed_makes_bookable_calendars(
    client: TestClient[web.Request, web.Application],
) -> None:
    db = client.app[DB_KEY]
    result = await seed_demo(db)
    org = uuid.UUID(result["organization_id"])
    # Two one-to-one calendars, the group class's and shockwave's (a room and a device).
    assert len(result["calendars"]) == 4 and len(result["specialists"]) == 3
    assert len(result["patients"]) == 4
    assert {c["timezone"] for c in result["calendars"]} == {"Europe/Bucharest"}
    assert sorted(c["public"] for c in result["calendars"]) == [False, True, True, True]
    now = datetime.now(UTC)
    async with db.tenant(org) as conn:
        for cal in result["calendars"]:
            rules, busy = await store.load_calendar(conn, uuid.UUID(cal["id"]))
            assert [str(m.specialist.id) for m in rules.specialists] == cal["specialist_ids"]
            slots = compute_slots(rules, busy, [], now, now, now + timedelta(days=14))
            assert slots
        booked = await conn.fetchval("SELECT count(*) FROM appointments")
    assert booked >= 3
