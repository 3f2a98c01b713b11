"""A slow, obviously correct availability oracle for the engine's property tests (and builders).

It walks every instant on a ``grain`` (in minutes) through UTC, asks zoneinfo for the local wall
clock and date of each, and applies the rules as written, one instant and one busy interval at a
time. It is exact when every input (hours, busy times, now, window, duration, interval, buffers
and the zones' DST changes) falls on the grain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pipelines.availability import (
    AssignmentStrategy,
    BusyInterval,
    Calendar,
    CalendarSpecialist,
    CampaignPeriod,
    RollingHorizon,
    Slot,
    Specialist,
    WeeklyInterval,
)

MIDNIGHT = time(0)  # as an end: 24:00
# A working interval lies within one local date, so it starts at most this long before any of
# its instants.
_RUN_REACH = timedelta(hours=27)


@lru_cache(maxsize=65_536)
def _local(t: datetime, key: str) -> datetime:
    return t.astimezone(ZoneInfo(key))


def _within(wall: time, ranges: Sequence[tuple[time, time]]) -> bool:
    return any(start <= wall and (end == MIDNIGHT or wall < end) for start, end in ranges)


def _weekly(intervals: Sequence[WeeklyInterval], day: date) -> list[tuple[time, time]]:
    return [(w.start, w.end) for w in intervals if w.weekday == day.isoweekday()]


def _working_date(calendar: Calendar, member: CalendarSpecialist, t: datetime) -> date | None:
    """The specialist's local date at ``t`` if ``t`` is working time for this calendar."""
    spec = member.specialist
    local = _local(t, spec.timezone)
    day, wall = local.date(), local.time()
    overrides = [o for o in spec.overrides if o.date == day]
    if overrides:
        own = [(r.start, r.end) for r in overrides[0].hours]
    else:
        own = _weekly(spec.weekly_hours, day)
    if not _within(wall, own):
        return None
    if member.hours is not None and not _within(wall, _weekly(member.hours, day)):
        return None
    if calendar.hours is not None:
        cal = _local(t, calendar.timezone)
        if not _within(cal.time(), _weekly(calendar.hours, cal.date())):
            return None
    return day


def _runs(
    calendar: Calendar, member: CalendarSpecialist, lo: datetime, hi: datetime, grain: timedelta
) -> list[tuple[datetime, datetime]]:
    """Maximal stretches of working time within one local date, scanning ``[lo, hi)``."""
    runs: list[tuple[datetime, datetime]] = []
    current: tuple[datetime, date] | None = None
    t = lo
    while t < hi:
        day = _working_date(calendar, member, t)
        if current is not None and day != current[1]:
            runs.append((current[0], t))
            current = None
        if day is not None and current is None:
            current = (t, day)
        t += grain
    if current is not None:
        runs.append((current[0], hi))
    return runs


def reference_slots(
    calendar: Calendar,
    busy: Sequence[BusyInterval],
    holds: Sequence[BusyInterval],
    now: datetime,
    window_start: datetime,
    window_end: datetime,
    assignment_counts: Mapping[UUID, int] | None = None,
    *,
    grain_min: int = 1,
) -> list[Slot]:
    # Aware arithmetic is wall-clock arithmetic in the operand's zone: work in UTC throughout.
    now, window_start, window_end = (t.astimezone(UTC) for t in (now, window_start, window_end))
    busy = [
        BusyInterval(b.specialist_id, b.start.astimezone(UTC), b.end.astimezone(UTC)) for b in busy
    ]
    holds = [
        BusyInterval(b.specialist_id, b.start.astimezone(UTC), b.end.astimezone(UTC)) for b in holds
    ]
    grain = timedelta(minutes=grain_min)
    duration = timedelta(minutes=calendar.duration_min)
    step = timedelta(minutes=calendar.slot_interval_min)
    before = timedelta(minutes=calendar.buffer_before_min)
    after = timedelta(minutes=calendar.buffer_after_min)
    earliest = now + timedelta(minutes=calendar.min_notice_min)
    counts = assignment_counts or {}
    takers: dict[datetime, list[tuple[tuple[int, int, UUID], UUID]]] = {}

    for member in calendar.specialists:
        spec = member.specialist
        mine = [b for b in (*busy, *holds) if b.specialist_id == spec.id]

        def day_load(day: date, mine: list[BusyInterval] = mine, tz: str = spec.timezone) -> int:
            return sum(1 for b in mine if _local(b.start, tz).date() == day)

        scan_lo = window_start - _RUN_REACH
        scan_hi = window_end + duration + grain
        for anchor, run_end in _runs(calendar, member, scan_lo, scan_hi, grain):
            start = anchor
            while start + duration <= run_end:
                ok = window_start <= start < window_end and start >= earliest
                if isinstance(calendar.horizon, RollingHorizon):
                    ok = ok and start < now + timedelta(days=calendar.horizon.days)
                if isinstance(calendar.horizon, CampaignPeriod):
                    local_day = _local(start, calendar.timezone).date()
                    ok = ok and calendar.horizon.start <= local_day <= calendar.horizon.end
                for b in mine:
                    # Both the slot and the busy interval occupy their buffers.
                    if (
                        start - before < b.end + after
                        and b.start - before < start + duration + after
                    ):
                        ok = False
                if ok and calendar.daily_cap is not None:
                    day = _local(start, spec.timezone).date()
                    ok = day_load(day) < calendar.daily_cap
                if ok:
                    if calendar.assignment is AssignmentStrategy.ROUND_ROBIN:
                        key = (counts.get(spec.id, 0), member.priority, spec.id)
                    else:
                        key = (0, member.priority, spec.id)
                    takers.setdefault(start, []).append((key, spec.id))
                start += step

    return [
        Slot(start, start + duration, tuple(sid for _, sid in sorted(takers[start])))
        for start in sorted(takers)
    ]


# Terse builders the example tests share.


def hours(
    start: str, end: str, weekdays: Sequence[int] = range(1, 8)
) -> tuple[WeeklyInterval, ...]:
    """The same wall-clock hours on each of ``weekdays``; "24:00" may be written "00:00"."""
    return tuple(
        WeeklyInterval(wd, time.fromisoformat(start), time.fromisoformat(end)) for wd in weekdays
    )


def specialist(n: int, timezone: str = "Europe/Bucharest", **fields: Any) -> Specialist:
    """Specialist ``UUID(int=n)``, working 09:00-17:00 every day unless told otherwise."""
    fields.setdefault("weekly_hours", hours("09:00", "17:00"))
    return Specialist(id=UUID(int=n), timezone=timezone, **fields)


def calendar(*members: Specialist | CalendarSpecialist, **rules: Any) -> Calendar:
    """A Bucharest calendar of 30-minute slots every 30 minutes, bookable a year ahead."""
    rules = {
        "id": UUID(int=1000),
        "timezone": "Europe/Bucharest",
        "duration_min": 30,
        "slot_interval_min": 30,
        "horizon": RollingHorizon(365),
        **rules,
    }
    rules["specialists"] = tuple(
        m if isinstance(m, CalendarSpecialist) else CalendarSpecialist(specialist=m)
        for m in members
    )
    return Calendar(**rules)


def at(local: str, timezone: str = "Europe/Bucharest", fold: int = 0) -> datetime:
    """An aware UTC instant from local wall time ``YYYY-MM-DD HH:MM`` (``fold=1``: the repeat)."""
    naive = datetime.fromisoformat(local)
    return naive.replace(tzinfo=ZoneInfo(timezone), fold=fold).astimezone(UTC)


def walls(slots: Sequence[Slot], timezone: str = "Europe/Bucharest") -> list[str]:
    """Slot starts as local wall time and offset, e.g. ``03:30+0300``."""
    return [f"{s.start.astimezone(ZoneInfo(timezone)):%H:%M%z}" for s in slots]
