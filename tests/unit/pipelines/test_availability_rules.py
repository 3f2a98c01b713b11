"""Calendar rules, one at a time: hours, overrides, notice, horizons, buffers, busy time, caps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import pytest

from pipelines.availability import (
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
)
from tests.unit.pipelines._availability_reference import (
    at,
    calendar,
    hours,
    reference_slots,
    specialist,
    walls,
)

MONDAY = "2024-06-10"  # Bucharest is at +03:00
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)
ALICE, BOB = UUID(int=1), UUID(int=2)


def slots_on(
    cal: Calendar,
    day: str = MONDAY,
    busy: list[BusyInterval] | None = None,
    holds: list[BusyInterval] | None = None,
    now: datetime = LONG_AGO,
    days: int = 1,
) -> list[Slot]:
    """The calendar's slots over ``days`` Bucharest dates from ``day``, checked by the oracle."""
    start = at(f"{day} 00:00")
    end = at(f"{date.fromisoformat(day) + timedelta(days=days)} 00:00")
    case: dict[str, Any] = {"busy": busy or [], "holds": holds or [], "now": now}
    got = compute_slots(cal, window_start=start, window_end=end, **case)
    assert got == reference_slots(cal, window_start=start, window_end=end, **case)
    return got


def appointment(who: UUID, start: str, end: str) -> BusyInterval:
    return BusyInterval(who, at(f"{MONDAY} {start}"), at(f"{MONDAY} {end}"))


def test_slots_align_on_the_start_of_each_working_interval() -> None:
    alice = specialist(1, weekly_hours=hours("09:10", "11:00") + hours("14:00", "15:00"))
    slots = slots_on(calendar(alice, duration_min=60, slot_interval_min=30))
    assert walls(slots) == ["09:10+0300", "09:40+0300", "14:00+0300"]
    assert [s.end - s.start for s in slots] == [timedelta(minutes=60)] * 3
    assert all(s.start.tzinfo is UTC and s.specialist_ids == (ALICE,) for s in slots)


def test_touching_intervals_form_one_interval() -> None:
    alice = specialist(1, weekly_hours=hours("09:00", "10:00") + hours("10:00", "11:00"))
    slots = slots_on(calendar(alice, duration_min=60, slot_interval_min=30))
    assert walls(slots) == ["09:00+0300", "09:30+0300", "10:00+0300"]


def test_midnight_as_end_means_end_of_day() -> None:
    alice = specialist(1, weekly_hours=hours("23:00", "00:00"))
    assert walls(slots_on(calendar(alice))) == ["23:00+0300", "23:30+0300"]


def test_day_off_override_removes_that_date_only() -> None:
    alice = specialist(1, overrides=(DateOverride(date(2024, 6, 10)),))
    slots = slots_on(calendar(alice, duration_min=60, slot_interval_min=60), days=2)
    assert {s.start.date() for s in slots} == {date(2024, 6, 11)}


def test_custom_override_replaces_the_weekly_hours() -> None:
    custom = DateOverride(
        date(2024, 6, 10), (TimeRange(time(7), time(8)), TimeRange(time(20), time(21)))
    )
    alice = specialist(1, overrides=(custom,))
    slots = slots_on(calendar(alice, duration_min=60, slot_interval_min=60))
    assert walls(slots) == ["07:00+0300", "20:00+0300"]


def test_minimum_notice_clips_the_window() -> None:
    now = at(f"{MONDAY} 08:05")
    slots = slots_on(calendar(specialist(1), min_notice_min=120), now=now)
    assert walls(slots)[0] == "10:30+0300"  # the first aligned start at or after 10:05


def test_rolling_horizon_ends_n_days_after_now() -> None:
    now = at(f"{MONDAY} 12:00")
    slots = slots_on(calendar(specialist(1), horizon=RollingHorizon(1)), now=now, days=3)
    assert slots[0].start == now
    assert slots[-1].start == at("2024-06-11 11:30")


def test_campaign_period_counts_calendar_local_dates() -> None:
    # 00:30 on 11 June in Bucharest is still 10 June in UTC; it belongs to the period.
    night = specialist(1, weekly_hours=hours("00:30", "01:30"))
    cal = calendar(night, horizon=CampaignPeriod(date(2024, 6, 11), date(2024, 6, 12)))
    slots = slots_on(cal, "2024-06-09", days=5)
    assert [s.start for s in slots] == [
        datetime(2024, 6, 10, 21, 30, tzinfo=UTC),
        datetime(2024, 6, 10, 22, 0, tzinfo=UTC),
        datetime(2024, 6, 11, 21, 30, tzinfo=UTC),
        datetime(2024, 6, 11, 22, 0, tzinfo=UTC),
    ]


def test_calendar_hours_narrow_and_re_anchor() -> None:
    cal = calendar(specialist(1), hours=hours("10:15", "12:00"), duration_min=45)
    assert walls(slots_on(cal)) == ["10:15+0300", "10:45+0300", "11:15+0300"]


def test_per_calendar_hours_narrow_the_override_too() -> None:
    custom = DateOverride(date(2024, 6, 10), (TimeRange(time(14), time(18)),))
    member = CalendarSpecialist(
        specialist=specialist(1, overrides=(custom,)), hours=hours("09:00", "15:00")
    )
    assert walls(slots_on(calendar(member))) == ["14:00+0300", "14:30+0300"]


def test_buffers_keep_slots_apart_from_appointments_on_both_sides() -> None:
    alice = specialist(1, weekly_hours=hours("08:00", "14:00"))
    cal = calendar(
        alice, duration_min=60, slot_interval_min=15, buffer_before_min=15, buffer_after_min=15
    )
    slots = slots_on(cal, busy=[appointment(ALICE, "10:00", "11:00")])
    # A slot and the appointment each carry their buffers: 30 minutes between them.
    assert walls(slots) == [
        "08:00+0300", "08:15+0300", "08:30+0300",
        "11:30+0300", "11:45+0300", "12:00+0300", "12:15+0300", "12:30+0300", "12:45+0300",
        "13:00+0300",
    ]  # fmt: skip


def test_buffers_may_reach_outside_working_hours() -> None:
    cal = calendar(specialist(1), buffer_before_min=30, buffer_after_min=30)
    slots = slots_on(cal)
    assert walls(slots)[0] == "09:00+0300" and walls(slots)[-1] == "16:30+0300"


def test_holds_block_like_appointments() -> None:
    cal = calendar(specialist(1), duration_min=60, slot_interval_min=60)
    slots = slots_on(cal, holds=[appointment(ALICE, "10:00", "11:00")])
    assert "10:00+0300" not in walls(slots) and "11:00+0300" in walls(slots)


def test_busy_time_of_other_specialists_does_not_block() -> None:
    cal = calendar(specialist(1), specialist(2), duration_min=60, slot_interval_min=60)
    slots = slots_on(cal, busy=[appointment(ALICE, "10:00", "11:00")])
    by_start = {w: s.specialist_ids for w, s in zip(walls(slots), slots, strict=True)}
    assert by_start["10:00+0300"] == (BOB,) and by_start["11:00+0300"] == (ALICE, BOB)
    stranger = BusyInterval(UUID(int=77), at(f"{MONDAY} 09:00"), at(f"{MONDAY} 17:00"))
    assert slots_on(cal, busy=[stranger]) == slots_on(cal)


def test_daily_cap_closes_the_specialists_day() -> None:
    cal = calendar(specialist(1), specialist(2), daily_cap=2, duration_min=60, slot_interval_min=60)
    busy = [appointment(ALICE, "09:00", "10:00"), appointment(ALICE, "15:00", "16:00")]
    slots = slots_on(cal, busy=busy, days=2)
    monday = [s for s in slots if s.start < at("2024-06-11 00:00")]
    assert monday and all(s.specialist_ids == (BOB,) for s in monday)
    assert all(ALICE in s.specialist_ids for s in slots if s.start >= at("2024-06-11 00:00"))


def test_daily_cap_counts_live_holds() -> None:
    cal = calendar(specialist(1), daily_cap=2, duration_min=60, slot_interval_min=60)
    slots = slots_on(
        cal,
        busy=[appointment(ALICE, "09:00", "10:00")],
        holds=[appointment(ALICE, "11:00", "12:00")],
    )
    assert slots == []
    assert len(slots_on(cal, busy=[appointment(ALICE, "09:00", "10:00")])) == 7


def test_window_lists_starts_within_it_only() -> None:
    cal = calendar(specialist(1), duration_min=60, slot_interval_min=30)
    start, end = at(f"{MONDAY} 10:15"), at(f"{MONDAY} 11:00")
    slots = compute_slots(cal, [], [], LONG_AGO, start, end)
    assert walls(slots) == ["10:30+0300"]
    assert compute_slots(cal, [], [], LONG_AGO, end, start) == []


def test_sub_second_inputs_round_towards_safety() -> None:
    cal = calendar(specialist(1), duration_min=60, slot_interval_min=60)
    now = at(f"{MONDAY} 09:00") + timedelta(microseconds=1)
    busy = [
        BusyInterval(
            ALICE, at(f"{MONDAY} 11:00"), at(f"{MONDAY} 12:00") + timedelta(microseconds=1)
        )
    ]
    slots = compute_slots(cal, busy, [], now, at(f"{MONDAY} 00:00"), at(f"{MONDAY} 23:00"))
    assert walls(slots)[:2] == ["10:00+0300", "13:00+0300"]


def test_naive_datetimes_are_refused() -> None:
    cal = calendar(specialist(1))
    naive = datetime(2024, 6, 10, 9)
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_slots(cal, [], [], naive, at(f"{MONDAY} 00:00"), at(f"{MONDAY} 23:00"))
    with pytest.raises(ValueError, match="timezone-aware"):
        BusyInterval(ALICE, naive, naive + timedelta(hours=1))


@pytest.mark.parametrize(
    "build",
    [
        lambda: WeeklyInterval(0, time(9), time(10)),
        lambda: WeeklyInterval(1, time(10), time(9)),
        lambda: TimeRange(time(9), time(9)),
        lambda: Specialist(
            id=ALICE,
            timezone="UTC",
            overrides=(DateOverride(date(2024, 6, 10)), DateOverride(date(2024, 6, 10))),
        ),
        lambda: calendar(specialist(1), specialist(1)),
        lambda: calendar(specialist(1), slot_interval_min=0),
        lambda: calendar(specialist(1), daily_cap=0),
        lambda: CampaignPeriod(date(2024, 6, 2), date(2024, 6, 1)),
    ],
)
def test_invalid_rules_are_refused(build: Any) -> None:
    with pytest.raises(ValueError):
        build()
