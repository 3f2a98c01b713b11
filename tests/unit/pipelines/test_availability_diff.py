"""``slots.changed`` deltas: upserts replace by start, removals name start and end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from pipelines.availability import RemovedSlot, Slot, diff_slots

A, B = UUID(int=1), UUID(int=2)
NINE = datetime(2024, 6, 10, 6, tzinfo=UTC)


def slot(minutes: int, *ids: UUID, length: int = 30) -> Slot:
    start = NINE + timedelta(minutes=minutes)
    return Slot(start, start + timedelta(minutes=length), ids)


def test_equal_lists_give_an_empty_delta() -> None:
    slots = [slot(0, A), slot(30, A, B)]
    assert diff_slots(slots, list(slots)) == ([], [])


def test_new_and_gone_slots() -> None:
    upserted, removed = diff_slots([slot(0, A), slot(30, A)], [slot(30, A), slot(60, B)])
    assert upserted == [slot(60, B)]
    assert removed == [RemovedSlot(NINE, NINE + timedelta(minutes=30))]


def test_changed_specialists_or_their_order_upsert_the_slot() -> None:
    old = [slot(0, A, B), slot(30, A, B), slot(60, A)]
    new = [slot(0, A), slot(30, B, A), slot(60, A)]
    assert diff_slots(old, new) == ([slot(0, A), slot(30, B, A)], [])


def test_changed_end_upserts_under_the_same_start() -> None:
    assert diff_slots([slot(0, A)], [slot(0, A, length=45)]) == ([slot(0, A, length=45)], [])


def test_delta_is_sorted_by_start_whatever_the_input_order() -> None:
    upserted, removed = diff_slots(
        [slot(90, A), slot(10, A)], [slot(60, B), slot(0, B), slot(120, B)]
    )
    assert [s.start for s in upserted] == sorted(s.start for s in upserted)
    assert [r.start for r in removed] == [
        NINE + timedelta(minutes=10),
        NINE + timedelta(minutes=90),
    ]
