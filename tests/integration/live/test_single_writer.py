"""One writer per organization's calendars (docs/architecture.md, "One writer per calendar"):
a change on one calendar is decided against, and pushed to, every calendar sharing the
specialist in the same batch, and after a long concurrent mix of patient and staff writes every
calendar's snapshot is exactly what Postgres implies, with no reload."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from pipelines.availability import compute_slots
from server.resources import DB_KEY
from server.services import CALENDARS_KEY
from storage import scheduling as store
from storage.types import Role
from tests.integration.live.conftest import Clinic, day_at, make_clinic, z


async def _sibling(clinic: Clinic, specialists: list[str]) -> Clinic:
    """Another calendar of the same organization with these specialists."""
    created = await clinic.api.calendar(specialists)
    return Clinic(clinic.api, created["id"], specialists[0], clinic.patient_id)


def _starts(snapshot: dict[str, Any]) -> set[str]:
    return {s["start"] for s in snapshot["slots"]}


async def test_a_hold_and_a_booking_on_one_calendar_take_the_time_on_every_calendar_sharing_the_specialist(  # noqa: E501
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    b = await _sibling(a, [a.specialist_id])
    at = day_at(3, 10)
    window = (z(day_at(3, 0)), z(day_at(4, 0)))
    before_b = await b.slots(*window)
    assert z(at) in _starts(before_b)

    held = await a.api.ok(
        "POST", "/v1/holds", {"calendar_id": a.calendar_id, "start": z(at)},
        role=Role.PATIENT, patient_id=a.patient_id, expect=201,
    )  # fmt: skip
    # At once, not after a reload: B no longer lists the time, and refuses a hold on it.
    assert z(at) not in _starts(await b.slots(*window))
    status, body = await b.hold(at)
    assert status == 409, body
    # B's subscribers were told in the same batch (a delta on B's own channel).
    removed = [r["start"] for d in await b.deltas_since(before_b["position"]) for r in d["removed"]]
    assert z(at) in removed

    # The patient's hold on A books (the time was never promised twice).
    booked = await a.api.ok(
        "POST", "/v1/appointments", {"hold_id": held["id"]}, role=Role.PATIENT,
        patient_id=a.patient_id, expect=201,
    )  # fmt: skip
    assert booked["start"] == z(at)
    assert z(at) not in _starts(await b.slots(*window))
    status, _ = await b.hold(at)
    assert status == 409

    # Cancelling the appointment gives the time back to both calendars.
    await a.api.ok(
        "POST", f"/v1/appointments/{booked['id']}/cancel", {"reason": "patient_request"},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    assert z(at) in _starts(await a.slots(*window))
    assert z(at) in _starts(await b.slots(*window))


async def test_a_released_hold_frees_the_time_on_the_other_calendar(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    b = await _sibling(a, [a.specialist_id])
    at = day_at(4, 11)
    window = (z(day_at(4, 0)), z(day_at(5, 0)))
    status, held = await b.hold(at)
    assert status == 201, held
    assert z(at) not in _starts(await a.slots(*window))
    status, _ = await a.hold(at)
    assert status == 409
    await b.api.ok("DELETE", f"/v1/holds/{held['id']}", expect=204)
    assert z(at) in _starts(await a.slots(*window))
    status, _ = await a.hold(at)
    assert status == 201


async def test_after_a_shard_restart_a_hold_on_one_calendar_still_takes_the_time_on_the_other(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    b = await _sibling(a, [a.specialist_id])
    at = day_at(5, 9)
    window = (z(day_at(5, 0)), z(day_at(6, 0)))
    status, held = await a.hold(at)
    assert status == 201, held
    assert z(at) not in _starts(await b.slots(*window))
    os.kill(await a.shard_pid(), signal.SIGKILL)
    # The restarted shard rebuilt A from Redis; B, loaded afresh, knows A's hold.
    assert z(at) not in _starts(await b.slots(*window))
    status, _ = await b.hold(at)
    assert status == 409
    await a.api.ok("DELETE", f"/v1/holds/{held['id']}", expect=204)
    assert z(at) in _starts(await b.slots(*window))


# The acceptance size: 10,000 operations by 8 concurrent writers over two calendars.
SINGLE_WRITER_OPS = int(os.environ.get("CADENCE_SINGLE_WRITER_OPS", "10000"))
WRITERS = 8
# Answers a writer may get; a 500 or a 503 fails the test.
ALLOWED = {
    "hold": {201, 409, 422},
    "release": {204, 404},
    "book": {201, 404, 409, 410},
    "cancel": {200, 404, 409},
    "no_show": {200, 404, 409},
    "reschedule": {200, 404, 409, 422},
    "series": {201, 409},
}


async def _engine_slots(clinic: Clinic, lo: datetime, hi: datetime) -> list[dict[str, Any]]:
    """What Postgres implies for the calendar: its rules and the appointments of its
    specialists on every calendar, through the pure availability engine (no live holds)."""
    now = datetime.now(UTC)
    async with clinic.client.app[DB_KEY].tenant(clinic.api.org_id) as conn:
        snap = await store.load_calendar_snapshot(
            conn, uuid.UUID(clinic.calendar_id), now=now, window=(lo, hi)
        )
    slots = compute_slots(snap.calendar, snap.busy(), [], now, lo, hi, snap.assignment_counts)
    return [
        {"start": z(s.start), "end": z(s.end), "specialist_ids": sorted(map(str, s.specialist_ids))}
        for s in slots
    ]


async def test_8_writers_mixing_staff_and_patient_writes_leave_every_snapshot_as_postgres_implies(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    api = a.api
    shared = await api.specialist("Shared")
    third = await api.specialist("Third")
    cal_a = await api.calendar([a.specialist_id, shared])
    cal_b = await api.calendar([shared, third], slot_interval_min=30)
    calendars = [
        Clinic(api, cal_a["id"], a.specialist_id, a.patient_id),
        Clinic(api, cal_b["id"], shared, a.patient_id),
    ]
    members = {cal_a["id"]: [a.specialist_id, shared], cal_b["id"]: [shared, third]}
    patients = [await api.patient(f"P{i}") for i in range(2 * WRITERS)]
    held: list[tuple[str, str]] = []  # (hold id, holder patient id or "")
    booked: list[tuple[str, str]] = []  # (appointment id, calendar id)
    counts: Counter[str] = Counter()
    ops = 0

    def check(kind: str, status: int, body: Any) -> None:
        counts[f"{kind}:{status}"] += 1
        assert status in ALLOWED[kind], (kind, status, body)

    async def writer(n: int) -> None:
        nonlocal ops
        rng = random.Random(1000 + n)
        mine = patients[2 * n : 2 * n + 2]
        while ops < SINGLE_WRITER_OPS:
            ops += 1
            cal = rng.choice(calendars)
            at = day_at(rng.randrange(1, 15), rng.randrange(8, 19), rng.choice((0, 0, 30)))
            roll = rng.random()
            if roll < 0.35 or not (held or booked):
                patient = rng.choice(mine)
                staff = rng.random() < 0.3
                body = {"calendar_id": cal.calendar_id, "start": z(at)}
                if staff:
                    status, hold = await api.call("POST", "/v1/holds", body, Role.RECEPTIONIST)
                else:
                    status, hold = await api.call(
                        "POST", "/v1/holds", body, Role.PATIENT, patient_id=patient
                    )
                check("hold", status, hold)
                if status == 201:
                    held.append((hold["id"], "" if staff else patient))
            elif roll < 0.5 and held:
                hold_id, _ = held.pop(rng.randrange(len(held)))
                status, body = await api.call("DELETE", f"/v1/holds/{hold_id}")
                check("release", status, body)
            elif roll < 0.7 and held:
                hold_id, patient = held.pop(rng.randrange(len(held)))
                if patient:
                    status, appt = await api.call(
                        "POST", "/v1/appointments", {"hold_id": hold_id}, Role.PATIENT,
                        patient_id=patient,
                    )  # fmt: skip
                else:
                    body = {"hold_id": hold_id, "patient_id": rng.choice(mine)}
                    status, appt = await api.call(
                        "POST", "/v1/appointments", body, Role.RECEPTIONIST
                    )
                check("book", status, appt)
                if status == 201:
                    booked.append((appt["id"], appt["calendar_id"]))
            elif roll < 0.8 and booked:
                appt_id, _ = booked.pop(rng.randrange(len(booked)))
                action = rng.choice(("cancel", "cancel", "no_show"))
                if action == "cancel":
                    path, body = f"/v1/appointments/{appt_id}/cancel", {"reason": "other"}
                else:
                    path, body = f"/v1/appointments/{appt_id}/no-show", None
                status, answer = await api.call("POST", path, body, Role.RECEPTIONIST)
                check(action, status, answer)
                if status != 200:
                    booked.append((appt_id, _))
            elif roll < 0.93 and booked:
                appt_id, cal_id = rng.choice(booked)
                body = {"start": z(at)}
                if rng.random() < 0.5:
                    body["specialist_id"] = rng.choice(members[cal_id])
                status, answer = await api.call(
                    "POST", f"/v1/appointments/{appt_id}/reschedule", body, Role.RECEPTIONIST
                )
                check("reschedule", status, answer)
            else:
                status, answer = await api.book(
                    cal.calendar_id, rng.choice(mine), at, occurrences=2
                )
                check("series", status, answer)
                if status == 201:
                    booked.extend((x["id"], x["calendar_id"]) for x in answer["appointments"])

    await asyncio.gather(*(writer(n) for n in range(WRITERS)))
    # Every kind of write happened and succeeded at least once.
    for kind, ok in (("hold", 201), ("book", 201), ("cancel", 200), ("reschedule", 200),
                     ("series", 201), ("release", 204)):  # fmt: skip
        assert counts[f"{kind}:{ok}"] > 0, counts
    for hold_id, _ in held:  # the holds still live: their time is not in Postgres
        status, body = await api.call("DELETE", f"/v1/holds/{hold_id}")
        check("release", status, body)

    lo, hi = day_at(1, 0), day_at(15, 0)
    for cal in calendars:
        assert (await cal.shard_state())["holds"] == []
        snapshot = await cal.slots(z(lo), z(hi))
        listed = [{**s, "specialist_ids": sorted(s["specialist_ids"])} for s in snapshot["slots"]]
        assert listed == await _engine_slots(cal, lo, hi), cal.calendar_id
    pool = client.app[CALENDARS_KEY]._pool  # noqa: SLF001 - the shards' own counters
    stats = await pool.broadcast("stats")
    assert sum(s["reloads"] for s in stats) == 0, "a shard re-read a calendar from Postgres"
