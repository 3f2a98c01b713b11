"""bench/slots_naive.py, the `slots` baseline, answers what the engine answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bench.slots_naive import naive_slots
from pipelines.availability import compute_slots
from server.resources import DB_KEY
from storage import scheduling as store
from tests.integration.scheduling.conftest import Api, day_at


async def test_naive_baseline_matches_the_engine(
    api: Api, client: TestClient[web.Request, web.Application]
) -> None:
    split = [
        {"weekday": d, "start": s, "end": e}
        for d in range(1, 6)
        for s, e in (("08:00", "12:00"), ("13:00", "17:30"))
    ]
    a = await api.specialist("A", hours=split)
    b = await api.specialist("B")
    await api.ok("PATCH", f"/v1/specialists/{b}", {"timezone": "Europe/Bucharest"})
    c = await api.specialist("C")
    service = await api.service(duration_min=45, buffer_before_min=5, buffer_after_min=10)
    calendar = await api.calendar(
        [a, b, c],
        service["id"],
        slot_interval_min=20,
        min_notice_min=90,
        daily_cap=4,
        assignment="round_robin",
        timezone="Europe/Bucharest",
        hours=[{"weekday": d, "start": "07:00", "end": "19:00"} for d in range(1, 8)],
    )
    await api.ok(
        "PATCH",
        f"/v1/calendars/{calendar['id']}",
        {
            "specialists": [
                {"id": a, "priority": 0},
                {"id": b, "priority": 1},
                {
                    "id": c,
                    "priority": 1,
                    "hours": [
                        {"weekday": d, "start": "09:00", "end": "15:00"} for d in range(1, 8)
                    ],
                },
            ]
        },
    )
    day = day_at(2, 0).date()
    await api.ok(
        "POST",
        f"/v1/specialists/{c}/overrides",
        {"date": day.isoformat(), "hours": [{"start": "10:00", "end": "11:30"}]},
        expect=201,
    )
    patients = [await api.patient(f"P{i}") for i in range(3)]
    for i, (sid, hour) in enumerate([(c, 9), (c, 12), (b, 10), (b, 14), (c, 9)]):
        when = day_at(1 + i % 3, hour)
        status, _ = await api.book(calendar["id"], patients[i % 3], when, specialist_id=sid)
        assert status in (201, 409)
    now = datetime.now(UTC)
    start, end = day_at(1, 0), day_at(4, 0)
    zone = ZoneInfo("Europe/Bucharest")
    if start.astimezone(zone).utcoffset() != end.astimezone(zone).utcoffset():
        pytest.skip("the baseline reads wall times naively on DST-change days")
    async with client.app[DB_KEY].tenant(api.org_id) as conn:
        snap = await store.load_calendar_snapshot(
            conn, uuid.UUID(calendar["id"]), now=now, window=(start, end)
        )
        naive = await naive_slots(conn, uuid.UUID(calendar["id"]), start, end, now)
    engine = compute_slots(snap.calendar, snap.busy(), [], now, start, end, snap.assignment_counts)
    assert engine, "the case must offer slots"
    as_dicts = [
        {"start": s.start, "end": s.end, "specialist_ids": list(s.specialist_ids)} for s in engine
    ]
    assert naive == as_dicts
