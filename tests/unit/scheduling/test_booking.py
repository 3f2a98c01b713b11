"""The staff booking planner and the busy-interval translation, without services."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.availability import (
    Calendar,
    CalendarSpecialist,
    RollingHorizon,
    Specialist,
    WeeklyInterval,
    compute_slots,
)
from server.scheduling.booking import occurrence_starts, plan_series
from storage.scheduling import BookedInterval, CalendarSnapshot, SlotUnavailable

NOW = datetime(2030, 1, 1, tzinfo=UTC)  # a Tuesday
ALL_DAY = tuple(WeeklyInterval(d, time(0), time(0)) for d in range(1, 8))
WORKDAY = tuple(WeeklyInterval(d, time(8), time(18)) for d in range(1, 8))


def _calendar(
    ids: list[uuid.UUID],
    hours: tuple[WeeklyInterval, ...] = WORKDAY,
    *,
    before: int = 0,
    after: int = 0,
    step: int = 60,
) -> Calendar:
    return Calendar(
        id=uuid.UUID(int=99),
        timezone="UTC",
        duration_min=60,
        slot_interval_min=step,
        horizon=RollingHorizon(7),
        specialists=tuple(
            CalendarSpecialist(
                specialist=Specialist(id=i, timezone="UTC", weekly_hours=hours), priority=n
            )
            for n, i in enumerate(ids)
        ),
        buffer_before_min=before,
        buffer_after_min=after,
    )


def _snap(calendar: Calendar, booked: Sequence[BookedInterval] = ()) -> CalendarSnapshot:
    return CalendarSnapshot(
        calendar=calendar,
        organization_id=uuid.uuid4(),
        name="c",
        service_id=uuid.uuid4(),
        public=True,
        active=True,
        hold_ttl_s=600,
        booked=tuple(booked),
    )


def _booked(
    sid: uuid.UUID, start: datetime, minutes: int = 60, before: int = 0, after: int = 0
) -> BookedInterval:
    return BookedInterval(
        uuid.uuid4(), sid, start, start + timedelta(minutes=minutes), before, after
    )


def test_weekly_occurrences_keep_the_local_wall_time_across_dst() -> None:
    first = datetime(2030, 10, 17, 7, tzinfo=UTC)  # 10:00 in Bucharest, summer time
    starts = occurrence_starts(first, 3, 7, "Europe/Bucharest")
    assert [s.hour for s in starts] == [7, 7, 8]  # 27 Oct 2030 is the change
    assert starts[2] - starts[0] == timedelta(days=14, hours=1)


def test_series_goes_to_the_preferred_specialist_free_for_every_occurrence() -> None:
    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    starts = occurrence_starts(datetime(2030, 1, 2, 9, tzinfo=UTC), 4, 7, "UTC")
    snap = _snap(_calendar([a, b]), [_booked(a, starts[2])])
    assert plan_series(snap, starts, None, NOW) == b
    with pytest.raises(SlotUnavailable) as caught:
        plan_series(snap, starts, a, NOW)
    (conflict,) = caught.value.conflicts
    assert conflict["index"] == 2 and conflict["reason"] == "busy"


def test_series_conflicts_name_each_occurrence_and_why() -> None:
    a = uuid.UUID(int=1)
    starts = occurrence_starts(datetime(2030, 1, 2, 9, tzinfo=UTC), 3, 1, "UTC")
    off_grid = [starts[0], starts[1] + timedelta(minutes=30), starts[2]]
    snap = _snap(_calendar([a]), [_booked(a, starts[2] + timedelta(minutes=30))])
    with pytest.raises(SlotUnavailable) as caught:
        plan_series(snap, off_grid, None, NOW)
    assert [(c["index"], c["reason"]) for c in caught.value.conflicts] == [
        (1, "unavailable"),
        (2, "busy"),
    ]
    with pytest.raises(SlotUnavailable) as caught:
        plan_series(snap, [NOW - timedelta(days=1)], a, NOW)
    assert caught.value.conflicts[0]["reason"] == "in_past"


@settings(max_examples=60, deadline=None)
@given(
    own=st.tuples(st.integers(0, 45), st.integers(0, 45)),
    cal=st.tuples(st.integers(0, 45), st.integers(0, 45)),
    offset=st.integers(0, 180),
    length=st.integers(5, 90),
)
def test_busy_translation_makes_the_engine_agree_with_the_exclusion_constraint(
    own: tuple[int, int], cal: tuple[int, int], offset: int, length: int
) -> None:
    """An appointment booked with its own buffers, seen from a calendar with other buffers:
    a start is offered exactly when the two padded ranges do not overlap (the constraint)."""
    sid = uuid.UUID(int=1)
    calendar = _calendar([sid], ALL_DAY, before=cal[0], after=cal[1], step=5)
    day = datetime(2030, 1, 3, tzinfo=UTC)
    appt = _booked(sid, day + timedelta(hours=10, minutes=offset), length, *own)
    window = (day + timedelta(hours=6), day + timedelta(hours=16))
    offered = {s.start for s in compute_slots(calendar, [appt.as_busy(calendar)], [], NOW, *window)}
    taken = (appt.starts_at - timedelta(minutes=own[0]), appt.ends_at + timedelta(minutes=own[1]))
    expected = set()
    start = window[0]
    while start < window[1]:
        padded = (start - timedelta(minutes=cal[0]), start + timedelta(minutes=60 + cal[1]))
        if padded[1] <= taken[0] or padded[0] >= taken[1]:
            expected.add(start)
        start += timedelta(minutes=5)
    if own[0] + own[1] + length > cal[0] + cal[1]:
        assert offered == expected
    else:  # too short to express exactly: the engine may only be more careful, never less
        assert offered <= expected
