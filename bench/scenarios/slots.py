"""`slots`: a 30-day slot list for a calendar with 10 specialists (2 working intervals a day each)
and 500 existing appointments. Cadence's engine alone (rules loaded once, as a calendar actor
holds them) beside the naive baseline that queries the database per request and checks slot by
slot, the way Cal.com's slot service works. Both lists must be identical (checked)."""

from __future__ import annotations

import os
import random
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.runner import Options
from bench.schema import Goal, Result
from bench.slots_naive import naive_slots
from bench.stats import CpuMeter, percentile
from migrations.runner import migrate
from pipelines.availability import compute_slots
from storage.db import _init_connection, with_database
from storage.scheduling import load_calendar

SPECIALISTS = 10
APPOINTMENTS = 500
DAYS = 30


async def _build(conn: asyncpg.Connection, now: datetime) -> uuid.UUID:
    rng = random.Random(7)
    org = await conn.fetchval(
        "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id",
        f"bench-{secrets.token_hex(4)}",
    )
    service = await conn.fetchval(
        """INSERT INTO services (organization_id, name, duration_min, buffer_before_min,
                                 buffer_after_min, modality)
           VALUES ($1, 'Physio 45', 45, 5, 10, 'in_clinic') RETURNING id""",
        org,
    )
    patient = await conn.fetchval(
        """INSERT INTO patients (organization_id, first_name, last_name)
           VALUES ($1, 'Bench', 'Patient') RETURNING id""",
        org,
    )
    calendar: uuid.UUID = await conn.fetchval(
        """INSERT INTO calendars (organization_id, name, service_id, timezone, public,
                                  slot_interval_min, min_notice_min, horizon_days, assignment)
           VALUES ($1, 'Bench', $2, 'Europe/Bucharest', true, 15, 60, 60, 'round_robin')
           RETURNING id""",
        org,
        service,
    )
    specialists = []
    for i in range(SPECIALISTS):
        sid = await conn.fetchval(
            """INSERT INTO specialists (organization_id, name, timezone)
               VALUES ($1, $2, 'Europe/Bucharest') RETURNING id""",
            org,
            f"Specialist {i}",
        )
        specialists.append(sid)
        await conn.executemany(
            """INSERT INTO specialist_hours (organization_id, specialist_id, weekday, start_min,
                                             end_min) VALUES ($1, $2, $3, $4, $5)""",
            [
                (org, sid, wd, start, end)
                for wd in range(1, 6)
                for start, end in ((8 * 60, 12 * 60), (13 * 60, 17 * 60 + 30 * (i % 2)))
            ],
        )
        await conn.execute(
            """INSERT INTO calendar_specialists (organization_id, calendar_id, specialist_id,
                                                 priority) VALUES ($1, $2, $3, $4)""",
            org,
            calendar,
            sid,
            i,
        )
    placed = 0
    while placed < APPOINTMENTS:
        day = now.date() + timedelta(days=rng.randrange(1, DAYS))
        start = datetime(
            day.year, day.month, day.day, 6 + rng.randrange(9), 15 * rng.randrange(4), tzinfo=UTC
        )
        try:
            await conn.execute(
                """INSERT INTO appointments (organization_id, calendar_id, service_id,
                       specialist_id, patient_id, starts_at, ends_at, buffer_before_min,
                       buffer_after_min)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, 5, 10)""",
                org,
                calendar,
                service,
                rng.choice(specialists),
                patient,
                start,
                start + timedelta(minutes=45),
            )
            placed += 1
        except asyncpg.ExclusionViolationError:
            continue
    return calendar


async def run(opts: Options) -> Result:
    iterations = int(opts.pick(opts.clients, 300, 30))
    naive_iterations = max(3, iterations // 10)
    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/cadence")
    name = f"cadence_bench_{secrets.token_hex(3)}"
    dsn = with_database(base, name)
    await migrate(dsn, os.environ.get("CADENCE_DB_APP_PASSWORD", "cadence_app"))
    conn = await asyncpg.connect(dsn)
    try:
        await _init_connection(conn)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        end = now + timedelta(days=DAYS)
        calendar_id = await _build(conn, now)
        calendar, busy = await load_calendar(conn, calendar_id, now=now)
        engine_slots = compute_slots(calendar, busy, [], now, now, end)
        meter = CpuMeter()
        meter.start()
        engine_ms = []
        for _ in range(iterations):
            t0 = time.perf_counter()
            compute_slots(calendar, busy, [], now, now, end)
            engine_ms.append((time.perf_counter() - t0) * 1000)
        cpu = meter.stop()
        naive_ms = []
        naive = []
        for _ in range(naive_iterations):
            t0 = time.perf_counter()
            naive = await naive_slots(conn, calendar_id, now, end, now)
            naive_ms.append((time.perf_counter() - t0) * 1000)
    finally:
        await conn.close()
        admin = await asyncpg.connect(with_database(base, "postgres"))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    same = [(s.start, s.end, set(s.specialist_ids)) for s in engine_slots] == [
        (n["start"], n["end"], set(n["specialist_ids"])) for n in naive
    ]
    figures = {"p50_ms": percentile(engine_ms, 50), "p99_ms": percentile(engine_ms, 99)}
    baseline = {"p50_ms": percentile(naive_ms, 50), "p99_ms": percentile(naive_ms, 99)}
    return Result(
        scenario="slots",
        parameters={
            "specialists": SPECIALISTS,
            "appointments": APPOINTMENTS,
            "days": DAYS,
            "iterations": iterations,
            "baseline_iterations": naive_iterations,
            "slots": len(engine_slots),
        },
        figures=figures,
        baseline_name="naive DB-per-request (Cal.com style)",
        baseline=baseline,
        ratios={
            "speedup_p50": baseline["p50_ms"] / figures["p50_ms"],
            "speedup_p99": baseline["p99_ms"] / figures["p99_ms"],
        },
        goals=[Goal("p50_ms", "<=", 5, "ms"), Goal("speedup_p50", ">=", 20, "x")],
        checks={"same_slots_as_baseline": same},
        generators=[{"name": "engine", "cpu_percent": cpu}],
        series={"engine": engine_ms, "naive baseline": naive_ms},
    )
