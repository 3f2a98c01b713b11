"""Which specialist a calendar prefers for a slot, and the choice made when a hold names none."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from uuid import UUID

from ._model import AssignmentStrategy, Calendar, CalendarSpecialist, Slot


class AssignmentError(Exception):
    """No specialist can be assigned to the requested hold."""


class SpecialistRequired(AssignmentError):
    """A ``patient_choice`` calendar was asked to pick the specialist itself."""


class SpecialistUnavailable(AssignmentError):
    """The requested specialist cannot take this slot (or nobody can)."""


PreferenceKey = Callable[[CalendarSpecialist], tuple[int, int, UUID]]


def preference_key(
    strategy: AssignmentStrategy, assignment_counts: Mapping[UUID, int] | None
) -> PreferenceKey:
    """Sort key, smallest = preferred.

    ``priority`` and ``patient_choice``: ascending priority, then id. ``round_robin``: fewest
    assignments so far (per ``assignment_counts``, missing = 0), then priority, then id.
    """
    if strategy is AssignmentStrategy.ROUND_ROBIN:
        counts = assignment_counts or {}
        return lambda m: (counts.get(m.specialist.id, 0), m.priority, m.specialist.id)
    return lambda m: (0, m.priority, m.specialist.id)


def preference_order(
    calendar: Calendar, assignment_counts: Mapping[UUID, int] | None = None
) -> list[CalendarSpecialist]:
    """The calendar's specialists, preferred first."""
    return sorted(calendar.specialists, key=preference_key(calendar.assignment, assignment_counts))


def choose_specialist(
    calendar: Calendar,
    slot: Slot,
    specialist_id: UUID | None = None,
    assignment_counts: Mapping[UUID, int] | None = None,
) -> UUID:
    """The specialist a new hold on ``slot`` goes to.

    With ``specialist_id`` it must be one who can take the slot. Without it, ``patient_choice``
    calendars raise ``SpecialistRequired``; the others pick the preferred one, ranking again with
    the given ``assignment_counts`` (round robin counts may have moved since ``slot`` was computed).
    Raises ``SpecialistUnavailable`` when the requested specialist, or everyone, is taken.
    """
    if specialist_id is not None:
        if specialist_id not in slot.specialist_ids:
            raise SpecialistUnavailable(f"specialist {specialist_id} cannot take {slot.start}")
        return specialist_id
    if calendar.assignment is AssignmentStrategy.PATIENT_CHOICE:
        raise SpecialistRequired("this calendar lets the patient choose the specialist")
    candidates = [m for m in calendar.specialists if m.specialist.id in slot.specialist_ids]
    if not candidates:
        raise SpecialistUnavailable(f"no specialist can take {slot.start}")
    best = min(candidates, key=preference_key(calendar.assignment, assignment_counts))
    return best.specialist.id
