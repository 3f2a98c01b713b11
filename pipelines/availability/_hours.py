"""Working hours (weekly, date overrides, per-calendar narrowing) as spans of UTC instants.

Membership rule: an instant is working time when, on its local date in the zone of the hours, its
wall clock reads within one of that date's ranges. So a spring-forward gap removes the missing
wall times, a fall-back repeat keeps both readings of the repeated hour, and 00:30-03:30 on the
night the clock jumps from 03:00 to 04:00 lasts 2.5 real hours (it ends at the jump).

A working interval is a maximal run of working time within ONE local date: runs of two dates that
touch at midnight stay apart, so no slot straddles the specialist's local midnight and every run,
hence every slot alignment anchor, is bounded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import time

from ._intervals import Span, intersect, normalize
from ._model import MIDNIGHT, CalendarSpecialist, WeeklyInterval
from ._zone import DAY, ZoneTimeline, epoch_day, iso_weekday

Weekly = tuple[list[Span], ...]  # index 0 = Monday; wall seconds within the day


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def wall_span(start: time, end: time) -> Span:
    return _seconds(start), DAY if end == MIDNIGHT else _seconds(end)


def compile_weekly(intervals: Iterable[WeeklyInterval]) -> Weekly:
    days: tuple[list[Span], ...] = tuple([] for _ in range(7))
    for iv in intervals:
        days[iv.weekday - 1].append(wall_span(iv.start, iv.end))
    return tuple(normalize(d) for d in days)


def specialist_runs(member: CalendarSpecialist, zone: ZoneTimeline, days: range) -> list[Span]:
    """The specialist's working intervals for this calendar on the given local epoch days."""
    spec = member.specialist
    weekly = compile_weekly(spec.weekly_hours)
    narrowing = None if member.hours is None else compile_weekly(member.hours)
    overrides = {
        epoch_day(o.date): normalize(wall_span(r.start, r.end) for r in o.hours)
        for o in spec.overrides
    }
    runs: list[Span] = []
    for day in days:
        wd = iso_weekday(day) - 1
        ranges = overrides.get(day)
        if ranges is None:
            ranges = weekly[wd]
        if narrowing is not None:
            ranges = intersect(ranges, narrowing[wd])
        if not ranges:
            continue
        offset = zone.constant_offset(day)
        if offset is not None:
            base = day * DAY - offset
            runs.extend([(base + a, base + b) for a, b in ranges])
        elif len(ranges) == 1:
            runs.extend(zone.wall_to_utc(day, *ranges[0]))
        else:
            # Around a DST change two ranges of a date can meet in UTC (at a spring-forward gap)
            # or interleave (in a repeated fall-back hour).
            runs.extend(normalize(p for a, b in ranges for p in zone.wall_to_utc(day, a, b)))
    # Runs of different dates are disjoint but, around a midnight fall-back, not in date order.
    runs.sort()
    return runs


def weekly_set(weekly: Weekly, zone: ZoneTimeline, days: range) -> list[Span]:
    """All instants within weekly hours on the given local epoch days, merged across midnight."""
    return normalize(
        p
        for day in days
        for a, b in weekly[iso_weekday(day) - 1]
        for p in zone.wall_to_utc(day, a, b)
    )


def days_set(zone: ZoneTimeline, days: Iterable[int]) -> list[Span]:
    """All instants whose local date is one of ``days``."""
    return normalize(p for day in days for p in zone.wall_to_utc(day, 0, DAY))
