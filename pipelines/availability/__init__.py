"""Availability engine: a calendar's bookable slots from its rules and busy time.

Pure computation: no I/O beyond zoneinfo reading the system time zone database once per zone.
``compute_slots`` lists the slots of a window (its docstring states every rule: alignment,
buffers, caps, holds, DST), ``choose_specialist`` assigns a hold that names no specialist, and
``diff_slots`` turns two slot lists into a ``slots.changed`` delta.
"""

from ._assign import (
    AssignmentError,
    SpecialistRequired,
    SpecialistUnavailable,
    choose_specialist,
    preference_order,
)
from ._diff import diff_slots
from ._engine import compute_slots
from ._model import (
    AssignmentStrategy,
    BusyInterval,
    Calendar,
    CalendarSpecialist,
    CampaignPeriod,
    DateOverride,
    Horizon,
    RemovedSlot,
    RollingHorizon,
    Slot,
    Specialist,
    TimeRange,
    WeeklyInterval,
)

__all__ = [
    "AssignmentError",
    "AssignmentStrategy",
    "BusyInterval",
    "Calendar",
    "CalendarSpecialist",
    "CampaignPeriod",
    "DateOverride",
    "Horizon",
    "RemovedSlot",
    "RollingHorizon",
    "Slot",
    "Specialist",
    "SpecialistRequired",
    "SpecialistUnavailable",
    "TimeRange",
    "WeeklyInterval",
    "choose_specialist",
    "compute_slots",
    "diff_slots",
    "preference_order",
]
