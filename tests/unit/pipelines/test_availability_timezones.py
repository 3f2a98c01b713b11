"""Working hours on DST days: gaps, repeats, Lord Howe's half hour, zones that differ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipelines.availability import (
    CalendarSpecialist,
    Slot,
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

BUCHAREST, NEW_YORK, LORD_HOWE = "Europe/Bucharest", "America/New_York", "Australia/Lord_Howe"
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


def day_slots(start: str, end: str, date: str, tz: str = BUCHAREST, **rules: object) -> list[Slot]:
    """Slots of a one-specialist calendar in ``tz`` working ``start``-``end`` daily, on ``date``."""
    cal = calendar(specialist(1, tz, weekly_hours=hours(start, end)), timezone=tz, **rules)
    day = datetime.fromisoformat(date)
    window = (at(f"{date} 00:00", tz), at(f"{day + timedelta(days=1):%Y-%m-%d} 00:00", tz))
    got = compute_slots(cal, [], [], LONG_AGO, *window)
    assert got == reference_slots(cal, [], [], LONG_AGO, *window)
    return got


def test_spring_forward_gap_offers_no_missing_wall_time() -> None:
    # 2024-03-31 03:00 EET becomes 04:00 EEST: 01:00-06:00 lasts four real hours.
    assert walls(day_slots("01:00", "06:00", "2024-03-31")) == [
        "01:00+0200", "01:30+0200", "02:00+0200", "02:30+0200",
        "04:00+0300", "04:30+0300", "05:00+0300", "05:30+0300",
    ]  # fmt: skip


def test_alignment_runs_in_real_time_across_the_gap() -> None:
    # 45 minutes after 02:30 EET is 04:15 EEST: the grid follows elapsed time, not the wall clock.
    slots = day_slots("01:00", "06:00", "2024-03-31", duration_min=45, slot_interval_min=45)
    assert walls(slots) == ["01:00+0200", "01:45+0200", "02:30+0200", "04:15+0300", "05:00+0300"]


def test_hours_ending_inside_the_gap_end_at_the_jump() -> None:
    # 00:30-03:30 on the spring-forward night: the wall clock never reads 03:00-03:59, so the
    # specialist stops when it jumps to 04:00, after 2.5 real hours.
    slots = day_slots("00:30", "03:30", "2024-03-31")
    assert walls(slots) == ["00:30+0200", "01:00+0200", "01:30+0200", "02:00+0200", "02:30+0200"]
    assert slots[-1].end == at("2024-03-31 04:00")


def test_fall_back_repeat_yields_a_slot_per_real_instant() -> None:
    # 2024-10-27 04:00 EEST becomes 03:00 EET: 03:00-03:59 happens twice.
    slots = day_slots("02:00", "05:00", "2024-10-27")
    assert walls(slots) == [
        "02:00+0300", "02:30+0300", "03:00+0300", "03:30+0300",
        "03:00+0200", "03:30+0200", "04:00+0200", "04:30+0200",
    ]  # fmt: skip
    assert slots[2].start == at("2024-10-27 03:00") == datetime(2024, 10, 27, 0, tzinfo=UTC)
    assert slots[4].start == at("2024-10-27 03:00", fold=1) == datetime(2024, 10, 27, 1, tzinfo=UTC)


def test_hours_ending_in_the_repeated_hour_resume_when_it_repeats() -> None:
    # 00:30-03:30: working while the wall clock reads before 03:30, both times it does.
    slots = day_slots("00:30", "03:30", "2024-10-27")
    assert walls(slots) == [
        "00:30+0300", "01:00+0300", "01:30+0300", "02:00+0300", "02:30+0300", "03:00+0300",
        "03:00+0200",
    ]  # fmt: skip


def test_new_york_spring_forward_and_fall_back() -> None:
    spring = day_slots(
        "00:00", "04:00", "2024-03-10", NEW_YORK, duration_min=60, slot_interval_min=60
    )
    assert walls(spring, NEW_YORK) == ["00:00-0500", "01:00-0500", "03:00-0400"]
    fall = day_slots(
        "00:00", "03:00", "2024-11-03", NEW_YORK, duration_min=60, slot_interval_min=60
    )
    assert walls(fall, NEW_YORK) == ["00:00-0400", "01:00-0400", "01:00-0500", "02:00-0500"]


def test_lord_howe_half_hour_spring_forward() -> None:
    # 2024-10-06 02:00 +10:30 becomes 02:30 +11:00: 01:00-04:00 lasts 2.5 real hours.
    slots = day_slots("01:00", "04:00", "2024-10-06", LORD_HOWE)
    assert walls(slots, LORD_HOWE) == [
        "01:00+1030", "01:30+1030", "02:30+1100", "03:00+1100", "03:30+1100",
    ]  # fmt: skip


def test_lord_howe_half_hour_fall_back() -> None:
    # 2024-04-07 02:00 +11:00 becomes 01:30 +10:30: 01:30-01:59 happens twice.
    slots = day_slots("01:00", "03:00", "2024-04-07", LORD_HOWE)
    assert walls(slots, LORD_HOWE) == [
        "01:00+1100", "01:30+1100", "01:30+1030", "02:00+1030", "02:30+1030",
    ]  # fmt: skip


def test_specialist_hours_follow_their_own_zone_and_calendar_hours_the_calendars() -> None:
    # New York 09:00-17:00 is 16:00-24:00 in Bucharest in June; the calendar takes 18:00-20:00.
    nyc = specialist(1, NEW_YORK)
    cal = calendar(nyc, hours=hours("18:00", "20:00"), duration_min=60, slot_interval_min=60)
    window = (at("2024-06-12 00:00"), at("2024-06-13 00:00"))
    slots = compute_slots(cal, [], [], LONG_AGO, *window)
    assert walls(slots) == ["18:00+0300", "19:00+0300"]
    assert walls(slots, NEW_YORK) == ["11:00-0400", "12:00-0400"]


def test_intervals_break_at_the_specialists_midnight_not_the_calendars() -> None:
    # Lord Howe 18:00-24:00 and 00:00-06:00 are 10:30-16:30 and 16:30-22:30 in Bucharest (June):
    # two intervals that touch at the specialist's midnight. The calendar takes 15:00-21:00, so
    # the intervals to align on are 15:00-16:30 and 16:30-21:00; no slot straddles 16:30.
    night = hours("18:00", "00:00") + hours("00:00", "06:00")
    lh = CalendarSpecialist(specialist=specialist(1, LORD_HOWE, weekly_hours=night))
    cal = calendar(lh, hours=hours("15:00", "21:00"), duration_min=60, slot_interval_min=60)
    window = (at("2024-06-12 00:00"), at("2024-06-13 00:00"))
    slots = compute_slots(cal, [], [], LONG_AGO, *window)
    assert walls(slots) == ["15:00+0300", "16:30+0300", "17:30+0300", "18:30+0300", "19:30+0300"]
    assert slots == reference_slots(cal, [], [], LONG_AGO, *window)
