"""The engine agrees with the minute-by-minute reference on random rules around DST changes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from uuid import UUID
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.availability import (
    AssignmentStrategy,
    BusyInterval,
    Calendar,
    CalendarSpecialist,
    CampaignPeriod,
    DateOverride,
    RollingHorizon,
    Slot,
    Specialist,
    TimeRange,
    WeeklyInterval,
    compute_slots,
    diff_slots,
)
from tests.unit.pipelines._availability_reference import reference_slots

ZONES = ("Europe/Bucharest", "America/New_York", "Australia/Lord_Howe")
# DST changes of the three zones (spring forward and fall back), and ordinary days.
DAYS = (
    date(2024, 3, 31),
    date(2024, 10, 27),
    date(2024, 3, 10),
    date(2024, 11, 3),
    date(2024, 4, 7),
    date(2024, 10, 6),
    date(2025, 3, 30),
    date(2025, 4, 6),
    date(2024, 6, 12),
    date(2025, 1, 15),
)
T = TypeVar("T")
IDS = tuple(UUID(int=n) for n in (1, 2, 3))
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def minutes(grain: int, low: int, high: int) -> st.SearchStrategy[int]:
    """Multiples of ``grain`` in ``[low, high]`` minutes."""
    return st.integers(-(-low // grain), high // grain).map(lambda n: n * grain)


@st.composite
def wall_range(draw: st.DrawFn, grain: int) -> tuple[time, time]:
    # Half the ranges sit in the small hours, where the DST changes are.
    latest = draw(st.sampled_from((6 * 60, 24 * 60)))
    # Coarse starts make specialists share slot starts; fine ones test the alignment.
    step = draw(st.sampled_from((grain, 30, 60)))
    start = draw(minutes(step, 0, latest - 30))
    end = start + draw(minutes(grain, 30, min(10 * 60, 24 * 60 - start)))
    # Night shifts: hours to midnight touch the next date's hours from midnight.
    if draw(st.sampled_from((False, False, True))):
        start, end = draw(st.sampled_from(((0, end), (start, 24 * 60))))
    as_time = [time(m // 60, m % 60) if m < 24 * 60 else time(0) for m in (start, end)]
    return as_time[0], as_time[1]


@st.composite
def weekly(draw: st.DrawFn, grain: int) -> tuple[WeeklyInterval, ...]:
    out = []
    for weekday in range(1, 8):
        if draw(st.sampled_from((True, True, True, False))):  # a day off one time in four
            for _ in range(draw(st.sampled_from((1, 1, 2)))):
                out.append(WeeklyInterval(weekday, *draw(wall_range(grain))))
    return tuple(out)


def sometimes(values: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    """``None`` two times in three: each narrowing rule empties many days."""
    return st.one_of(st.none(), st.none(), values)


@dataclass(frozen=True)
class Case:
    calendar: Calendar
    busy: list[BusyInterval]
    holds: list[BusyInterval]
    now: datetime
    window_start: datetime
    window_end: datetime
    assignment_counts: dict[UUID, int]

    def engine(self) -> list[Slot]:
        return compute_slots(
            self.calendar,
            self.busy,
            self.holds,
            self.now,
            self.window_start,
            self.window_end,
            self.assignment_counts,
        )


@st.composite
def scenarios(draw: st.DrawFn, grain: int, longest_window_h: int) -> Case:
    base = draw(st.sampled_from(DAYS))
    cal_zone = draw(st.sampled_from(ZONES))
    # Windows open within 12 h of the calendar's local midnight on `base`; DST changes come a
    # few hours after it.
    midnight = datetime.combine(base, time(0), ZoneInfo(cal_zone)).astimezone(UTC)
    window_start = midnight + timedelta(minutes=draw(minutes(grain, -12 * 60, 12 * 60)))
    window_end = window_start + timedelta(minutes=draw(minutes(grain, 60, longest_window_h * 60)))
    now = window_start + timedelta(minutes=draw(minutes(grain, -2 * 24 * 60, 6 * 60)))

    members = []
    for sid in IDS[: draw(st.integers(1, len(IDS)))]:
        overrides = {
            base + timedelta(days=draw(st.integers(-1, 2))): tuple(
                TimeRange(a, b) for a, b in draw(st.lists(wall_range(grain), max_size=2))
            )
            for _ in range(draw(st.integers(0, 2)))
        }
        spec = Specialist(
            id=sid,
            timezone=draw(st.one_of(st.just(cal_zone), st.sampled_from(ZONES))),
            weekly_hours=draw(weekly(grain)),
            overrides=tuple(DateOverride(d, h) for d, h in overrides.items()),
        )
        members.append(
            CalendarSpecialist(
                specialist=spec,
                priority=draw(st.integers(0, 2)),
                hours=draw(sometimes(weekly(grain))),
            )
        )

    if draw(st.booleans()):
        horizon: RollingHorizon | CampaignPeriod = RollingHorizon(draw(st.integers(1, 6)))
    else:
        first = base + timedelta(days=draw(st.integers(-1, 0)))
        horizon = CampaignPeriod(first, first + timedelta(days=draw(st.integers(0, 2))))

    calendar = Calendar(
        id=UUID(int=99),
        timezone=cal_zone,
        duration_min=draw(minutes(grain, grain, 120)),
        slot_interval_min=draw(minutes(grain, grain, 90)),
        horizon=horizon,
        specialists=tuple(members),
        buffer_before_min=draw(minutes(grain, 0, 30)),
        buffer_after_min=draw(minutes(grain, 0, 30)),
        min_notice_min=draw(minutes(grain, 0, 300)),
        hours=draw(sometimes(weekly(grain))),
        daily_cap=draw(st.none() | st.integers(1, 3)),
        assignment=draw(st.sampled_from(AssignmentStrategy)),
    )

    def busy_list() -> list[BusyInterval]:
        out = []
        for _ in range(draw(st.integers(0, 5))):
            start = window_start + timedelta(minutes=draw(minutes(grain, -30 * 60, 40 * 60)))
            length = timedelta(minutes=draw(minutes(grain, grain, 180)))
            out.append(BusyInterval(draw(st.sampled_from(IDS)), start, start + length))
        return out

    return Case(
        calendar=calendar,
        busy=busy_list(),
        holds=busy_list(),
        now=now,
        window_start=window_start,
        window_end=window_end,
        assignment_counts=draw(st.dictionaries(st.sampled_from(IDS), st.integers(0, 3))),
    )


def check_against_reference(case: Case, grain: int) -> None:
    got = case.engine()
    want = reference_slots(
        case.calendar,
        case.busy,
        case.holds,
        case.now,
        case.window_start,
        case.window_end,
        case.assignment_counts,
        grain_min=grain,
    )
    assert got == want
    assert all(s.start.tzinfo is UTC and s.end.tzinfo is UTC for s in got)


@SETTINGS
@given(case=scenarios(grain=5, longest_window_h=36))
def test_engine_matches_reference_on_a_five_minute_grid(case: Case) -> None:
    check_against_reference(case, grain=5)


@settings(SETTINGS, max_examples=25)
@given(case=scenarios(grain=1, longest_window_h=6))
def test_engine_matches_reference_on_odd_minutes(case: Case) -> None:
    check_against_reference(case, grain=1)


@settings(SETTINGS, max_examples=40)
@given(case=scenarios(grain=5, longest_window_h=30), data=st.data())
def test_diff_applied_to_old_slots_gives_new_slots(case: Case, data: st.DataObject) -> None:
    old = case.engine()
    busy = list(case.busy)
    cancel: bool = data.draw(st.booleans())
    if busy and cancel:
        busy.pop(data.draw(st.integers(0, len(busy) - 1)))
    elif old:
        taken = data.draw(st.sampled_from(old))
        busy.append(BusyInterval(taken.specialist_ids[0], taken.start, taken.end))
    new = replace(case, busy=busy).engine()

    upserted, removed = diff_slots(old, new)
    state = {s.start: s for s in old}
    for gone in removed:
        assert state.pop(gone.start).end == gone.end
    state.update((s.start, s) for s in upserted)
    assert sorted(state.values(), key=lambda s: s.start) == new
    assert not set(s.start for s in upserted) & set(r.start for r in removed)
