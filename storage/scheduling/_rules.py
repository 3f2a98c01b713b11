"""Loading a calendar's rules and busy time from PostgreSQL into the availability engine's types.

The calendar actors (next issue) rebuild their state with these on start; the REST slot endpoint
and the staff booking path use them per request. Call them inside one transaction; under
REPEATABLE READ the rules and the busy list come from one snapshot.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from pipelines.availability import (
    AssignmentStrategy,
    BusyInterval,
    Calendar,
    CalendarSpecialist,
    CampaignPeriod,
    DateOverride,
    Horizon,
    RollingHorizon,
    Specialist,
    TimeRange,
    WeeklyInterval,
)
from storage.scheduling._errors import NotFound

# Busy time and overrides are loaded this far around the window asked for: enough for the
# longest buffers and for the daily cap, which counts whole specialist-local days.
_MARGIN = timedelta(days=2)


def minutes_to_time(minutes: int) -> time:
    """Minutes of the day as the engine's wall time; 1440 (24:00) is 00:00 by its convention."""
    return time(0) if minutes >= 1440 else time(minutes // 60, minutes % 60)


def weekly_from_json(rows: Iterable[Mapping[str, Any]]) -> tuple[WeeklyInterval, ...]:
    return tuple(
        WeeklyInterval(
            int(r["weekday"]),
            minutes_to_time(int(r["start_min"])),
            minutes_to_time(int(r["end_min"])),
        )
        for r in rows
    )


@dataclass(frozen=True, slots=True)
class BookedInterval:
    """An appointment that occupies its specialist, with the buffers it was booked with."""

    appointment_id: uuid.UUID
    specialist_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    buffer_before_min: int
    buffer_after_min: int
    # A participant of a class: its calendar and session (the seats of a group calendar).
    calendar_id: uuid.UUID | None = None
    group_session_id: uuid.UUID | None = None

    def as_busy(self, calendar: Calendar) -> BusyInterval:
        """The engine's view of this appointment for `calendar`.

        The engine keeps `calendar`'s buffer_before + buffer_after between a slot and each busy
        interval; the database keeps the slot's padded range clear of this appointment's own
        padded range. Shifting the interval by the difference of the buffers makes the two
        rules identical (exact when the buffers match, as within one calendar). If the shift
        leaves nothing, the widest interval the engine can take keeps it conservative.
        """
        before = self.buffer_before_min - calendar.buffer_before_min
        after = self.buffer_after_min - calendar.buffer_after_min
        start = self.starts_at - timedelta(minutes=before)
        end = self.ends_at + timedelta(minutes=after)
        if end <= start:
            start, end = end, max(start, end + timedelta(seconds=1))
        return BusyInterval(self.specialist_id, start, end)


@dataclass(frozen=True, slots=True)
class CalendarSnapshot:
    """A calendar's engine rules plus what its owners need around them."""

    calendar: Calendar
    organization_id: uuid.UUID
    name: str
    service_id: uuid.UUID
    public: bool
    active: bool
    hold_ttl_s: int
    booked: tuple[BookedInterval, ...]
    assignment_counts: Mapping[uuid.UUID, int] = field(default_factory=dict)
    capacity: int = 1  # the service's seats per session: > 1 makes this a group calendar

    def busy(self, exclude: uuid.UUID | None = None) -> list[BusyInterval]:
        """Busy intervals for the engine, leaving out appointment `exclude` (one being moved)."""
        return [b.as_busy(self.calendar) for b in self.booked if b.appointment_id != exclude]


_CALENDAR = """
SELECT c.id, c.organization_id, c.name, c.service_id, c.timezone, c.public, c.slot_interval_min,
       c.min_notice_min, c.horizon_days, c.period_start, c.period_end, c.assignment, c.hours,
       c.daily_cap, c.hold_ttl_s, c.active AND s.active AND s.deleted_at IS NULL AS active,
       s.duration_min, s.buffer_before_min, s.buffer_after_min, s.capacity
FROM calendars c JOIN services s ON s.id = c.service_id
WHERE c.id = $1 AND c.deleted_at IS NULL
"""
_MEMBERS = """
SELECT cs.specialist_id, cs.priority, cs.hours, cs.assignments, sp.timezone
FROM calendar_specialists cs JOIN specialists sp ON sp.id = cs.specialist_id
WHERE cs.calendar_id = $1 AND sp.active AND sp.deleted_at IS NULL
ORDER BY cs.priority, cs.specialist_id
"""
_HOURS = """
SELECT specialist_id, weekday, start_min, end_min FROM specialist_hours
WHERE specialist_id = ANY($1::uuid[]) ORDER BY specialist_id, weekday, start_min
"""
_OVERRIDES = """
SELECT specialist_id, date, hours FROM specialist_overrides
WHERE specialist_id = ANY($1::uuid[]) AND date BETWEEN $2 AND $3
"""
_BOOKED = """
SELECT id, specialist_id, starts_at, ends_at, buffer_before_min, buffer_after_min,
       calendar_id, group_session_id
FROM appointments
WHERE specialist_id = ANY($1::uuid[]) AND status NOT IN ('cancelled', 'no_show')
  AND starts_at < $3 AND ends_at > $2
ORDER BY starts_at
"""


def _horizon(row: asyncpg.Record) -> Horizon:
    if row["horizon_days"] is not None:
        return RollingHorizon(int(row["horizon_days"]))
    return CampaignPeriod(row["period_start"], row["period_end"])


def default_window(horizon: Horizon, now: datetime) -> tuple[datetime, datetime]:
    """Everything the calendar can still offer: from now to the end of its horizon."""
    if isinstance(horizon, RollingHorizon):
        return now, now + timedelta(days=horizon.days)
    start = datetime.combine(horizon.start, time(0), UTC) - timedelta(days=1)
    end = datetime.combine(horizon.end, time(0), UTC) + timedelta(days=2)
    return max(now, start), max(now, end)


async def calendar_owner(conn: asyncpg.Connection, calendar_id: uuid.UUID) -> uuid.UUID | None:
    """The organization of a calendar that is not deleted, read without a tenant context
    (calendar_visibility is SECURITY DEFINER): the calendar shards' placement key."""
    org_id: uuid.UUID | None = await conn.fetchval(
        "SELECT organization_id FROM calendar_visibility($1)", calendar_id
    )
    return org_id


async def load_calendar_snapshot(
    conn: asyncpg.Connection,
    calendar_id: uuid.UUID,
    *,
    now: datetime | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> CalendarSnapshot:
    """The calendar's rules and the appointments that occupy its specialists around `window`
    (default: now to the end of the horizon), in every calendar of the organization.

    A calendar that is inactive, or whose service is, has no specialists (so no slots); so do
    inactive or deleted specialists. Raises NotFound for a missing, deleted or foreign calendar.
    """
    row = await conn.fetchrow(_CALENDAR, calendar_id)
    if row is None:
        raise NotFound("calendar")
    horizon = _horizon(row)
    lo, hi = window or default_window(horizon, now or datetime.now(UTC))
    lo, hi = lo - _MARGIN, hi + _MARGIN
    members = await conn.fetch(_MEMBERS, calendar_id) if row["active"] else []
    ids = [m["specialist_id"] for m in members]
    weekly: dict[uuid.UUID, list[WeeklyInterval]] = {i: [] for i in ids}
    overrides: dict[uuid.UUID, list[DateOverride]] = {i: [] for i in ids}
    booked: Sequence[asyncpg.Record] = []
    if ids:
        for h in await conn.fetch(_HOURS, ids):
            weekly[h["specialist_id"]].append(
                WeeklyInterval(
                    h["weekday"], minutes_to_time(h["start_min"]), minutes_to_time(h["end_min"])
                )
            )
        first: date = lo.date() - timedelta(days=1)
        last: date = hi.date() + timedelta(days=1)
        for o in await conn.fetch(_OVERRIDES, ids, first, last):
            ranges = tuple(TimeRange(minutes_to_time(a), minutes_to_time(b)) for a, b in o["hours"])
            overrides[o["specialist_id"]].append(DateOverride(o["date"], ranges))
        booked = await conn.fetch(_BOOKED, ids, lo, hi)
    calendar = Calendar(
        id=row["id"],
        timezone=row["timezone"],
        duration_min=row["duration_min"],
        slot_interval_min=row["slot_interval_min"],
        horizon=horizon,
        specialists=tuple(
            CalendarSpecialist(
                specialist=Specialist(
                    id=m["specialist_id"],
                    timezone=m["timezone"],
                    weekly_hours=tuple(weekly[m["specialist_id"]]),
                    overrides=tuple(overrides[m["specialist_id"]]),
                ),
                priority=m["priority"],
                hours=None if m["hours"] is None else weekly_from_json(m["hours"]),
            )
            for m in members
        ),
        buffer_before_min=row["buffer_before_min"],
        buffer_after_min=row["buffer_after_min"],
        min_notice_min=row["min_notice_min"],
        hours=None if row["hours"] is None else weekly_from_json(row["hours"]),
        daily_cap=row["daily_cap"],
        assignment=AssignmentStrategy(row["assignment"]),
    )
    return CalendarSnapshot(
        calendar=calendar,
        organization_id=row["organization_id"],
        name=row["name"],
        service_id=row["service_id"],
        public=row["public"],
        active=row["active"],
        hold_ttl_s=row["hold_ttl_s"],
        booked=tuple(
            BookedInterval(
                b["id"],
                b["specialist_id"],
                b["starts_at"],
                b["ends_at"],
                b["buffer_before_min"],
                b["buffer_after_min"],
                b["calendar_id"] if b["group_session_id"] is not None else None,
                b["group_session_id"],
            )
            for b in booked
        ),
        assignment_counts={m["specialist_id"]: int(m["assignments"]) for m in members},
        capacity=int(row["capacity"]),
    )


async def load_calendar(
    conn: asyncpg.Connection,
    calendar_id: uuid.UUID,
    *,
    now: datetime | None = None,
    window: tuple[datetime, datetime] | None = None,
) -> tuple[Calendar, list[BusyInterval]]:
    """The engine's calendar rules and the busy intervals of its specialists (see
    `load_calendar_snapshot` for the window and for what counts as busy)."""
    snap = await load_calendar_snapshot(conn, calendar_id, now=now, window=window)
    return snap.calendar, snap.busy()


async def load_assignment_counts(
    conn: asyncpg.Connection, calendar_id: uuid.UUID
) -> dict[uuid.UUID, int]:
    """Round-robin tracking: how many bookings the calendar has assigned to each specialist."""
    rows = await conn.fetch(
        "SELECT specialist_id, assignments FROM calendar_specialists WHERE calendar_id = $1",
        calendar_id,
    )
    return {r["specialist_id"]: int(r["assignments"]) for r in rows}
