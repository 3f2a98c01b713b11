"""Availability engine hot path: a 30-day slot list of a busy calendar.

10 specialists, two working intervals a day each (every day), 15-minute slot interval, 45-minute
service with 5 + 10 minutes of buffers, a daily cap, 500 appointments and 20 live holds; the
window crosses the spring-forward night in Europe/Bucharest. Target: p50 <= 5 ms on 2 cores.

    python -m bench.engine_slots [iterations]
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time as clock
from datetime import UTC, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from pipelines.availability import (
    AssignmentStrategy,
    BusyInterval,
    Calendar,
    CalendarSpecialist,
    RollingHorizon,
    Specialist,
    WeeklyInterval,
    compute_slots,
)

ZONE = "Europe/Bucharest"
NOW = datetime(2025, 3, 20, 7, 3, 12, tzinfo=UTC)
DAYS = 30


def build_case(
    seed: int = 7,
) -> tuple[Calendar, list[BusyInterval], list[BusyInterval], dict[UUID, int]]:
    rng = random.Random(seed)
    members = []
    for n in range(10):
        shift = n % 3  # three shift patterns: 08-12/13-17, 09-13/14-18, 10-14/15-19
        hours = tuple(
            WeeklyInterval(weekday, time(start + shift), time(start + shift + 4))
            for weekday in range(1, 8)
            for start in (8, 13)
        )
        spec = Specialist(id=UUID(int=n + 1), timezone=ZONE, weekly_hours=hours)
        members.append(CalendarSpecialist(specialist=spec, priority=n % 4))
    calendar = Calendar(
        id=UUID(int=1000),
        timezone=ZONE,
        duration_min=45,
        slot_interval_min=15,
        horizon=RollingHorizon(60),
        specialists=tuple(members),
        buffer_before_min=5,
        buffer_after_min=10,
        min_notice_min=120,
        daily_cap=7,
        assignment=AssignmentStrategy.ROUND_ROBIN,
    )

    def booking() -> BusyInterval:
        member = rng.choice(members)
        day = NOW.date() + timedelta(days=rng.randrange(DAYS))
        start_h = 8 + member.priority % 3 + rng.choice((0, 5))
        local = datetime.combine(day, time(start_h), ZoneInfo(member.specialist.timezone))
        # UTC, as timestamptz columns come back from Postgres.
        start = (local + timedelta(minutes=15 * rng.randrange(14))).astimezone(UTC)
        return BusyInterval(member.specialist.id, start, start + timedelta(minutes=45))

    busy = [booking() for _ in range(500)]
    holds = [booking() for _ in range(20)]
    counts = {m.specialist.id: rng.randrange(40) for m in members}
    return calendar, busy, holds, counts


def run(iterations: int = 200) -> dict[str, float]:
    calendar, busy, holds, counts = build_case()
    end = NOW + timedelta(days=DAYS)
    began = clock.perf_counter()
    slots = compute_slots(calendar, busy, holds, NOW, NOW, end, counts)  # fills the zone cache
    first_ms = (clock.perf_counter() - began) * 1000
    timings = []
    for _ in range(iterations):
        began = clock.perf_counter()
        compute_slots(calendar, busy, holds, NOW, NOW, end, counts)
        timings.append((clock.perf_counter() - began) * 1000)
    timings.sort()
    return {
        "iterations": iterations,
        "slots": len(slots),
        "first_call_ms": round(first_ms, 3),
        "p50_ms": round(statistics.median(timings), 3),
        "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 3),
    }


if __name__ == "__main__":
    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 200)))
