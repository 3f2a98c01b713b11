"""How often a plan is to be done, and how many sessions that schedules in a period (pure).

A frequency is either fixed weekdays, `{"weekdays": [1, 3, 5]}` (ISO, 1 = Monday; one session on
each), or a weekly count, `{"per_week": 3}` (any days). A weekly count schedules
`floor(per_week * days / 7)` sessions in a window of `days` days: exact for whole weeks, never
more than the patient could have been asked for in a part of a week.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from storage.telerehab._errors import Invalid

MAX_PER_WEEK = 14

FREQUENCY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "properties": {
        "weekdays": {
            "type": "array",
            "minItems": 1,
            "maxItems": 7,
            "uniqueItems": True,
            "items": {"type": "integer", "minimum": 1, "maximum": 7},
        },
        "per_week": {"type": "integer", "minimum": 1, "maximum": MAX_PER_WEEK},
    },
}


@dataclass(frozen=True, slots=True)
class Frequency:
    weekdays: tuple[int, ...] = ()
    per_week: int | None = None

    @classmethod
    def from_json(cls, data: object, field: str = "frequency") -> Frequency:
        """Parse untrusted JSON; Invalid naming the field otherwise."""
        if not isinstance(data, Mapping) or len(data) != 1:
            raise Invalid({field: 'must be {"weekdays": [1-7, ...]} or {"per_week": n}'})
        if "weekdays" in data:
            days = data["weekdays"]
            if (
                not isinstance(days, Sequence)
                or isinstance(days, str)
                or not days
                or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7
                       for d in days)
                or len(set(days)) != len(days)
            ):  # fmt: skip
                raise Invalid({f"{field}.weekdays": "must be distinct ISO weekdays 1-7"})
            return cls(weekdays=tuple(sorted(days)))
        count = data.get("per_week")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_PER_WEEK:
            raise Invalid({f"{field}.per_week": f"must be an integer 1..{MAX_PER_WEEK}"})
        return cls(per_week=count)

    def to_json(self) -> dict[str, Any]:
        if self.per_week is not None:
            return {"per_week": self.per_week}
        return {"weekdays": list(self.weekdays)}


def scheduled_sessions(
    frequency: Frequency,
    *,
    starts_on: date,
    ends_on: date | None,
    period_from: date,
    period_to: date,
) -> int:
    """Sessions the frequency schedules on the days both in [starts_on, ends_on] and in the
    period (all bounds inclusive; ends_on None = open-ended)."""
    first = max(starts_on, period_from)
    last = period_to if ends_on is None else min(ends_on, period_to)
    if last < first:
        return 0
    days = (last - first).days + 1
    if frequency.per_week is not None:
        return frequency.per_week * days // 7
    whole_weeks, rest = divmod(days, 7)
    count = whole_weeks * len(frequency.weekdays)
    for offset in range(rest):
        if (first + timedelta(days=whole_weeks * 7 + offset)).isoweekday() in frequency.weekdays:
            count += 1
    return count


@dataclass(frozen=True, slots=True)
class Adherence:
    """Sessions done vs scheduled. `credited`: the completions that count towards the schedule,
    at most `scheduled` per assignment, so extra sessions of one plan neither push the rate past
    1 nor make up for sessions missed in another."""

    scheduled: int
    completed: int
    credited: int

    @classmethod
    def of(cls, scheduled: int, completed: int) -> Adherence:
        return cls(scheduled, completed, min(scheduled, completed))

    @property
    def rate(self) -> float | None:
        if self.scheduled == 0:
            return None
        return round(self.credited / self.scheduled, 4)

    def __add__(self, other: Adherence) -> Adherence:
        return Adherence(
            self.scheduled + other.scheduled,
            self.completed + other.completed,
            self.credited + other.credited,
        )
