"""The availability engine's inputs and outputs: immutable, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from uuid import UUID

MIDNIGHT = time(0)


class AssignmentStrategy(StrEnum):
    """How a calendar orders the specialists who can take a slot, best first."""

    ROUND_ROBIN = "round_robin"
    PRIORITY = "priority"
    PATIENT_CHOICE = "patient_choice"


def _check_wall_range(start: time, end: time) -> None:
    for value in (start, end):
        if value.tzinfo is not None:
            raise ValueError("working hours are wall-clock times without tzinfo")
        if value.microsecond:
            raise ValueError("working hours have at most second precision")
    if end != MIDNIGHT and end <= start:
        raise ValueError(f"working hours end {end} must be after start {start} (00:00 = 24:00)")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Wall-clock hours ``[start, end)`` on one local date; ``end == 00:00`` means 24:00.

    A range never crosses midnight: a night shift is two ranges on two dates.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        _check_wall_range(self.start, self.end)


@dataclass(frozen=True, slots=True)
class WeeklyInterval:
    """Recurring wall-clock hours ``[start, end)`` on ISO ``weekday`` (1 = Monday .. 7 = Sunday)."""

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 1 <= self.weekday <= 7:
            raise ValueError(f"weekday must be 1..7 (ISO), got {self.weekday}")
        _check_wall_range(self.start, self.end)


@dataclass(frozen=True, slots=True)
class DateOverride:
    """Hours for one local date that replace the weekly ones; no hours means a day off."""

    date: date
    hours: tuple[TimeRange, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Specialist:
    """A specialist's own working time, in their own IANA ``timezone``."""

    id: UUID
    timezone: str
    weekly_hours: tuple[WeeklyInterval, ...] = ()
    overrides: tuple[DateOverride, ...] = ()

    def __post_init__(self) -> None:
        dates = [o.date for o in self.overrides]
        if len(set(dates)) != len(dates):
            raise ValueError(f"specialist {self.id} has two overrides for one date")


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarSpecialist:
    """A specialist's membership in one calendar.

    ``priority``: lower is preferred. ``hours``: when given, the specialist takes this calendar's
    bookings only within these weekly hours, read in the SPECIALIST's timezone (they narrow the
    specialist's own hours, date overrides included; they never add time).
    """

    specialist: Specialist
    priority: int = 0
    hours: tuple[WeeklyInterval, ...] | None = None


@dataclass(frozen=True, slots=True)
class RollingHorizon:
    """Bookable up to ``days`` x 24 h after now: a slot's start must be before now + days."""

    days: int

    def __post_init__(self) -> None:
        if self.days < 0:
            raise ValueError("horizon days must be >= 0")


@dataclass(frozen=True, slots=True)
class CampaignPeriod:
    """Bookable on the calendar-local dates ``start`` .. ``end`` (both inclusive)."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("campaign period ends before it starts")


Horizon = RollingHorizon | CampaignPeriod


@dataclass(frozen=True, slots=True, kw_only=True)
class Calendar:
    """One bookable service with its rules. Durations are whole minutes.

    ``slot_interval_min``: slot starts are this far apart, counted from the start of each working
    interval. ``buffer_*``: the specialist must also be free this long before and after a slot.
    ``hours``: optional calendar-wide weekly hours in the calendar's ``timezone``; they narrow
    every specialist's hours. ``daily_cap``: at most this many appointments (live holds included)
    per specialist per specialist-local date, or ``None`` for no cap. ``compute_slots`` states
    each rule exactly.
    """

    id: UUID
    timezone: str
    duration_min: int
    slot_interval_min: int
    horizon: Horizon
    specialists: tuple[CalendarSpecialist, ...]
    buffer_before_min: int = 0
    buffer_after_min: int = 0
    min_notice_min: int = 0
    hours: tuple[WeeklyInterval, ...] | None = None
    daily_cap: int | None = None
    assignment: AssignmentStrategy = AssignmentStrategy.PRIORITY

    def __post_init__(self) -> None:
        if self.duration_min <= 0 or self.slot_interval_min <= 0:
            raise ValueError("duration and slot interval must be positive")
        if min(self.buffer_before_min, self.buffer_after_min, self.min_notice_min) < 0:
            raise ValueError("buffers and minimum notice must be >= 0")
        if self.daily_cap is not None and self.daily_cap < 1:
            raise ValueError("daily cap must be >= 1 or None")
        ids = [cs.specialist.id for cs in self.specialists]
        if len(set(ids)) != len(ids):
            raise ValueError("a specialist is listed twice in the calendar")


@dataclass(frozen=True, slots=True)
class BusyInterval:
    """Time ``[start, end)`` in which a specialist is taken: an appointment or a live hold.

    It is assumed to carry the calendar's buffers around it, like any slot does.
    """

    specialist_id: UUID
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None or self.end.utcoffset() is None:
            raise ValueError("busy intervals need timezone-aware datetimes")
        if self.end <= self.start:
            raise ValueError("a busy interval must end after it starts")


@dataclass(frozen=True, slots=True)
class Slot:
    """A bookable ``[start, end)`` (aware UTC) and who can take it, preferred first."""

    start: datetime
    end: datetime
    specialist_ids: tuple[UUID, ...]


@dataclass(frozen=True, slots=True)
class RemovedSlot:
    """A slot that is gone, as ``slots.changed`` lists it: start and end only."""

    start: datetime
    end: datetime
