"""The staff booking path: checks a requested time against the availability engine before the
storage functions write it (the exclusion constraint still has the last word).

Staff may book beyond the public booking window: the horizon (rolling or campaign) and the
minimum notice are lifted, everything else holds (working hours, overrides, calendar and
per-calendar hours, slot alignment, buffers, daily cap). Nobody books in the past.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.availability import Calendar, RollingHorizon, compute_slots, preference_order
from storage.scheduling import CalendarSnapshot, SlotUnavailable

_ONE_SECOND = timedelta(seconds=1)


def occurrence_starts(
    first: datetime, count: int, every_days: int, timezone: str
) -> list[datetime]:
    """Starts of a recurring series at the same calendar-local wall time (so 10:00 stays 10:00
    across a DST change), as UTC instants."""
    zone = ZoneInfo(timezone)
    wall = first.astimezone(zone).replace(tzinfo=None)
    return [
        (wall + timedelta(days=k * every_days)).replace(tzinfo=zone).astimezone(UTC)
        for k in range(count)
    ]


def _staff_rules(calendar: Calendar, now: datetime, last: datetime) -> Calendar:
    days = max(1, (last - now).days + 2)
    return dataclasses.replace(calendar, horizon=RollingHorizon(days), min_notice_min=0)


def takers(
    snap: CalendarSnapshot,
    rules: Calendar,
    start: datetime,
    now: datetime,
    exclude: uuid.UUID | None = None,
) -> tuple[uuid.UUID, ...]:
    """Who can take a slot starting exactly at `start` (empty when it is no slot at all)."""
    found = compute_slots(
        rules, snap.busy(exclude), [], now, start, start + _ONE_SECOND, snap.assignment_counts
    )
    return found[0].specialist_ids if found and found[0].start == start else ()


def explain(
    snap: CalendarSnapshot,
    specialist_id: uuid.UUID | None,
    start: datetime,
    now: datetime,
    exclude: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Why `start` is not bookable (with `specialist_id`, for that specialist)."""
    end = start + timedelta(minutes=snap.calendar.duration_min)
    info: dict[str, Any] = {"start": start, "end": end, "specialist_id": specialist_id}
    if start < now:
        return {**info, "reason": "in_past"}
    cal = snap.calendar
    pad_before = timedelta(minutes=cal.buffer_before_min)
    pad_after = timedelta(minutes=cal.buffer_after_min)
    overlapping = [
        b
        for b in snap.booked
        if b.appointment_id != exclude
        and (specialist_id is None or b.specialist_id == specialist_id)
        and b.starts_at - timedelta(minutes=b.buffer_before_min) < end + pad_after
        and b.ends_at + timedelta(minutes=b.buffer_after_min) > start - pad_before
    ]
    if overlapping:
        return {
            **info,
            "reason": "busy",
            "appointments": [
                {
                    "appointment_id": b.appointment_id,
                    "specialist_id": b.specialist_id,
                    "start": b.starts_at,
                    "end": b.ends_at,
                }
                for b in overlapping
            ],
        }
    # Outside working hours, a day off, not on the slot grid, or the daily cap is reached.
    return {**info, "reason": "unavailable"}


def plan_series(
    snap: CalendarSnapshot,
    starts: Sequence[datetime],
    specialist_id: uuid.UUID | None,
    now: datetime,
) -> uuid.UUID:
    """The one specialist who takes every occurrence (continuity of care): the requested one,
    or else the calendar's preferred one among those free for all. Raises SlotUnavailable
    listing each occurrence that cannot be booked."""
    rules = _staff_rules(snap.calendar, now, starts[-1])
    per_start = [set(takers(snap, rules, s, now)) for s in starts]
    if specialist_id is not None:
        chosen = specialist_id
    else:
        ranked = [m.specialist.id for m in preference_order(snap.calendar, snap.assignment_counts)]
        everyone = [sid for sid in ranked if all(sid in t for t in per_start)]
        if everyone:
            return everyone[0]
        # Nobody takes all: report against whoever takes the most, so staff see what to move.
        best = max(ranked, key=lambda sid: sum(sid in t for t in per_start), default=None)
        if best is None:
            raise SlotUnavailable("the calendar has no bookable specialist")
        chosen = best
    conflicts = [
        {"index": i, **explain(snap, chosen, s, now)}
        for i, (s, t) in enumerate(zip(starts, per_start, strict=True))
        if chosen not in t
    ]
    if conflicts:
        noun = "occurrence" if len(starts) > 1 else "time"
        raise SlotUnavailable(f"{len(conflicts)} {noun}(s) cannot be booked", conflicts)
    return chosen


def check_move(
    snap: CalendarSnapshot,
    appointment_id: uuid.UUID,
    start: datetime,
    specialist_id: uuid.UUID,
    now: datetime,
) -> None:
    """Raise SlotUnavailable unless the specialist can take `start` once the appointment has
    left its old time (so a move by a few minutes may overlap the old time)."""
    rules = _staff_rules(snap.calendar, now, start)
    if specialist_id not in takers(snap, rules, start, now, exclude=appointment_id):
        raise SlotUnavailable(
            "the new time cannot be booked",
            [explain(snap, specialist_id, start, now, exclude=appointment_id)],
        )
