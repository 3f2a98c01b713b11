"""How many sessions a frequency schedules in a period, and the adherence rate."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from storage.telerehab import Adherence, Frequency, Invalid, scheduled_sessions

MONDAY = date(2026, 11, 23)


def count(freq: Frequency, first: date, last: date, *, starts: date = MONDAY,
          ends: date | None = None) -> int:  # fmt: skip
    return scheduled_sessions(freq, starts_on=starts, ends_on=ends, period_from=first,
                              period_to=last)  # fmt: skip


def test_weekdays_schedule_one_session_on_each_named_day() -> None:
    """Verifies REQ-TP-011: Mon/Wed/Fri over two weeks is 6; a partial week counts its days."""
    mwf = Frequency(weekdays=(1, 3, 5))
    assert count(mwf, MONDAY, MONDAY + timedelta(days=13)) == 6
    assert count(mwf, MONDAY, MONDAY + timedelta(days=2)) == 2  # Mon, Wed
    assert count(mwf, MONDAY + timedelta(days=5), MONDAY + timedelta(days=6)) == 0  # weekend


def test_a_weekly_count_is_pro_rata_rounded_down() -> None:
    """Verifies REQ-TP-011: 3 per week is 3 in 7 days, 6 in 14, 1 in 3 days, 0 in 1 day."""
    three = Frequency(per_week=3)
    assert [count(three, MONDAY, MONDAY + timedelta(days=n - 1)) for n in (7, 14, 3, 1)] == [
        3, 6, 1, 0]  # fmt: skip


def test_only_days_inside_the_assignment_are_scheduled() -> None:
    """Verifies REQ-TP-011: days before starts_on and after ends_on schedule nothing."""
    daily = Frequency(weekdays=(1, 2, 3, 4, 5, 6, 7))
    start, end = MONDAY + timedelta(days=3), MONDAY + timedelta(days=5)
    assert count(daily, MONDAY, MONDAY + timedelta(days=13), starts=start, ends=end) == 3
    assert count(daily, MONDAY, MONDAY + timedelta(days=1), starts=start) == 0


def test_the_rate_caps_extra_sessions_per_assignment() -> None:
    """Verifies REQ-TP-011: extra sessions of one plan neither exceed 100% nor make up for
    another plan's missed ones; nothing scheduled has no rate."""
    total = Adherence.of(3, 5) + Adherence.of(3, 0)
    assert (total.scheduled, total.completed, total.credited, total.rate) == (6, 5, 3, 0.5)
    assert Adherence.of(0, 2).rate is None


@pytest.mark.parametrize(
    "raw",
    [{}, {"per_week": 0}, {"per_week": 15}, {"weekdays": []}, {"weekdays": [0]},
     {"weekdays": [1, 1]}, {"weekdays": [1], "per_week": 2}, {"per_week": True}, "daily"],
)  # fmt: skip
def test_malformed_frequencies_are_refused(raw: object) -> None:
    """Verifies REQ-TP-007: frequencies other than distinct weekdays or 1..14 per week."""
    with pytest.raises(Invalid) as caught:
        Frequency.from_json(raw)
    assert all(key.startswith("frequency") for key in caught.value.fields)
