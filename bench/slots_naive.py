"""The naive slot baseline for the `slots` scenario: what a request-per-query slot service does
(Cal.com's slot service shape). Per request it loads the calendar's rules from PostgreSQL, walks
every candidate start of every specialist's working intervals, and asks the database about each
candidate: one query for an overlapping appointment, one more for the daily cap. No state is
kept between requests, nothing is precomputed.

It answers what the availability engine answers (same rules, same alignment, same order of
specialists) except on DST-change days, where it reads wall times with fold=0; the bench compares
the two on ordinary days.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

_CONFLICT = """
SELECT 1 FROM appointments
WHERE specialist_id = $1 AND status NOT IN ('cancelled', 'no_show')
  AND appointment_span(starts_at, ends_at, buffer_before_min, buffer_after_min)
      && appointment_span($2, $3, $4, $5)
LIMIT 1
"""
_DAY_COUNT = """
SELECT count(*) FROM appointments
WHERE specialist_id = $1 AND status NOT IN ('cancelled', 'no_show')
  AND starts_at >= $2 AND starts_at < $3
"""

Span = tuple[datetime, datetime]


def _wall(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    if minutes >= 1440:
        return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return datetime.combine(day, time(minutes // 60, minutes % 60), zone).astimezone(UTC)


def _intersect(a: list[Span], b: list[Span]) -> list[Span]:
    out = []
    for s1, e1 in a:
        for s2, e2 in b:
            s, e = max(s1, s2), min(e1, e2)
            if s < e:
                out.append((s, e))
    return sorted(out)


def _weekly_for(rows: list[dict[str, Any]] | None, day: date) -> list[tuple[int, int]] | None:
    if rows is None:
        return None
    return [(r["start_min"], r["end_min"]) for r in rows if r["weekday"] == day.isoweekday()]


def _day_spans(ranges: list[tuple[int, int]], day: date, zone: ZoneInfo) -> list[Span]:
    return [(_wall(day, a, zone), _wall(day, b, zone)) for a, b in sorted(ranges)]


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


async def naive_slots(
    conn: asyncpg.Connection,
    calendar_id: uuid.UUID,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
) -> list[dict[str, Any]]:
    """Slots of the calendar starting in [window_start, window_end), as PROTOCOL.md lists them:
    [{"start", "end", "specialist_ids"}] sorted by start, datetimes in UTC."""
    cal = await conn.fetchrow(
        """SELECT c.*, s.duration_min, s.buffer_before_min, s.buffer_after_min,
                  c.active AND s.active AND s.deleted_at IS NULL AS bookable
           FROM calendars c JOIN services s ON s.id = c.service_id
           WHERE c.id = $1 AND c.deleted_at IS NULL""",
        calendar_id,
    )
    if cal is None or not cal["bookable"]:
        return []
    members = await conn.fetch(
        """SELECT cs.specialist_id, cs.priority, cs.hours, cs.assignments, sp.timezone
           FROM calendar_specialists cs JOIN specialists sp ON sp.id = cs.specialist_id
           WHERE cs.calendar_id = $1 AND sp.active AND sp.deleted_at IS NULL""",
        calendar_id,
    )
    if cal["assignment"] == "round_robin":
        members = sorted(
            members, key=lambda m: (m["assignments"], m["priority"], m["specialist_id"])
        )
    else:
        members = sorted(members, key=lambda m: (m["priority"], m["specialist_id"]))

    duration = timedelta(minutes=cal["duration_min"])
    step = timedelta(minutes=cal["slot_interval_min"])
    bb, ba = cal["buffer_before_min"], cal["buffer_after_min"]
    lo = max(window_start, now + timedelta(minutes=cal["min_notice_min"]))
    hi = window_end
    if cal["horizon_days"] is not None:
        hi = min(hi, now + timedelta(days=cal["horizon_days"]))
    cal_zone = ZoneInfo(cal["timezone"])
    first_day = lo.astimezone(cal_zone).date() - timedelta(days=2)
    days = [first_day + timedelta(days=i) for i in range((hi - lo).days + 5)]
    cal_allowed: list[Span] | None = None
    if cal["hours"] is not None:
        cal_allowed = _merge(
            [s for d in days for s in _day_spans(_weekly_for(cal["hours"], d) or [], d, cal_zone)]
        )
    by_start: dict[datetime, list[uuid.UUID]] = {}
    for member in members:
        sid, zone = member["specialist_id"], ZoneInfo(member["timezone"])
        weekly = [
            dict(r)
            for r in await conn.fetch(
                "SELECT weekday, start_min, end_min FROM specialist_hours WHERE specialist_id = $1",
                sid,
            )
        ]
        overrides = {
            r["date"]: [tuple(h) for h in r["hours"]]
            for r in await conn.fetch(
                "SELECT date, hours FROM specialist_overrides WHERE specialist_id = $1", sid
            )
        }
        own_days = sorted({d + timedelta(days=k) for d in days for k in (-1, 0, 1)})
        for day in own_days:
            ranges = overrides.get(day)
            if ranges is None:
                ranges = _weekly_for(weekly, day) or []
            runs = _merge(_day_spans(ranges, day, zone))
            narrowing = _weekly_for(member["hours"], day)
            if narrowing is not None:
                runs = _intersect(runs, _merge(_day_spans(narrowing, day, zone)))
            if cal_allowed is not None:
                runs = _intersect(runs, cal_allowed)
            for run_start, run_end in runs:
                start = run_start
                while start + duration <= run_end:
                    if lo <= start < hi and await _free(
                        conn, cal, sid, zone, start, duration, bb, ba, cal_zone
                    ):
                        ids = by_start.setdefault(start, [])
                        if sid not in ids:
                            ids.append(sid)
                    start += step
    return [
        {"start": s, "end": s + duration, "specialist_ids": by_start[s]} for s in sorted(by_start)
    ]


async def _free(
    conn: asyncpg.Connection,
    cal: asyncpg.Record,
    sid: uuid.UUID,
    zone: ZoneInfo,
    start: datetime,
    duration: timedelta,
    bb: int,
    ba: int,
    cal_zone: ZoneInfo,
) -> bool:
    """One candidate, checked the slow way: the campaign period, then the database."""
    if cal["period_start"] is not None:
        local = start.astimezone(cal_zone).date()
        if not cal["period_start"] <= local <= cal["period_end"]:
            return False
    if await conn.fetchval(_CONFLICT, sid, start, start + duration, bb, ba) is not None:
        return False
    if cal["daily_cap"] is not None:
        day = start.astimezone(zone).date()
        begin = datetime.combine(day, time(0), zone)
        count = await conn.fetchval(_DAY_COUNT, sid, begin, begin + timedelta(days=1))
        if count >= cal["daily_cap"]:
            return False
    return True
