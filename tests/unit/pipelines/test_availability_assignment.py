"""Who is preferred for a slot under each strategy, and whom a hold without a specialist gets."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest

from pipelines.availability import (
    AssignmentStrategy,
    Calendar,
    CalendarSpecialist,
    Slot,
    SpecialistRequired,
    SpecialistUnavailable,
    choose_specialist,
    compute_slots,
)
from tests.unit.pipelines._availability_reference import at, calendar, specialist

A, B, C = UUID(int=1), UUID(int=2), UUID(int=3)
LONG_AGO = datetime(2024, 1, 1, tzinfo=UTC)


def team(strategy: AssignmentStrategy) -> Calendar:
    """A prefers least (priority 2); B and C share priority 1, so the id decides: B before C."""
    members = [
        CalendarSpecialist(specialist=specialist(n), priority=p)
        for n, p in ((1, 2), (3, 1), (2, 1))
    ]
    return calendar(*members, assignment=strategy)


def first_slot(cal: Calendar, counts: dict[UUID, int] | None = None) -> Slot:
    window = (at("2024-06-10 09:00"), at("2024-06-10 09:30"))
    [slot] = compute_slots(cal, [], [], LONG_AGO, *window, assignment_counts=counts)
    return slot


def test_priority_orders_by_priority_then_id() -> None:
    assert first_slot(team(AssignmentStrategy.PRIORITY)).specialist_ids == (B, C, A)


def test_patient_choice_lists_by_priority() -> None:
    assert first_slot(team(AssignmentStrategy.PATIENT_CHOICE)).specialist_ids == (B, C, A)


def test_round_robin_puts_the_fewest_assignments_first() -> None:
    cal = team(AssignmentStrategy.ROUND_ROBIN)
    assert first_slot(cal, {A: 0, B: 5, C: 1}).specialist_ids == (A, C, B)
    # Ties fall back to priority, then id; a missing count is zero.
    assert first_slot(cal, {A: 1, B: 1, C: 1}).specialist_ids == (B, C, A)
    assert first_slot(cal, {B: 2}).specialist_ids == (C, A, B)
    assert first_slot(cal).specialist_ids == (B, C, A)


def test_choose_takes_the_preferred_specialist() -> None:
    cal = team(AssignmentStrategy.PRIORITY)
    assert choose_specialist(cal, first_slot(cal)) == B


def test_choose_ranks_round_robin_with_the_current_counts() -> None:
    cal = team(AssignmentStrategy.ROUND_ROBIN)
    slot = first_slot(cal, {A: 0, B: 5, C: 1})
    assert choose_specialist(cal, slot, assignment_counts={A: 9, B: 5, C: 1}) == C


def test_choose_only_among_those_who_can_take_the_slot() -> None:
    cal = team(AssignmentStrategy.PRIORITY)
    slot = Slot(at("2024-06-10 09:00"), at("2024-06-10 09:30"), (A,))
    assert choose_specialist(cal, slot) == A
    with pytest.raises(SpecialistUnavailable):
        choose_specialist(cal, Slot(slot.start, slot.end, ()))


def test_choose_honours_an_explicit_specialist_who_can_take_it() -> None:
    cal = team(AssignmentStrategy.PRIORITY)
    slot = Slot(at("2024-06-10 09:00"), at("2024-06-10 09:30"), (B, A))
    assert choose_specialist(cal, slot, A) == A
    with pytest.raises(SpecialistUnavailable):
        choose_specialist(cal, slot, C)


def test_patient_choice_requires_an_explicit_specialist() -> None:
    cal = team(AssignmentStrategy.PATIENT_CHOICE)
    slot = first_slot(cal)
    with pytest.raises(SpecialistRequired):
        choose_specialist(cal, slot)
    assert choose_specialist(cal, slot, C) == C
