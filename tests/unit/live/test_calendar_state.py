"""The pure per-calendar state: incremental slot maintenance equals a full recomputation, the
deltas it records turn any earlier copy into the current list, and time moving on is a delta."""

from __future__ import annotations

import dataclasses
import random
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from actors.calendar._state import (
    CalendarState,
    DeltaBuilder,
    Hold,
    HoldStatus,
    InvalidHoldTransition,
    apply_delta,
)
from actors.calendar._store import decode_hold, decode_slots, encode_hold, encode_slots
from actors.calendar._wire import delta_json, parse_delta
from pipelines.availability import (
    AssignmentStrategy,
    Calendar,
    CalendarSpecialist,
    RollingHorizon,
    Slot,
    Specialist,
    WeeklyInterval,
)
from storage.scheduling import BookedInterval, CalendarSnapshot

NOW = datetime(2026, 3, 2, 7, 30, 12, 345000, tzinfo=UTC)
ORG = uuid.UUID(int=99)


def snapshot(
    *, specialists: int = 3, daily_cap: int | None = None, buffers: tuple[int, int] = (5, 10),
    zone: str = "Europe/Bucharest", days: int = 10, booked: tuple[BookedInterval, ...] = (),
    assignment: AssignmentStrategy = AssignmentStrategy.PRIORITY,
    counts: dict[uuid.UUID, int] | None = None,
) -> CalendarSnapshot:  # fmt: skip
    members = tuple(
        CalendarSpecialist(
            specialist=Specialist(
                id=uuid.UUID(int=n + 1), timezone=zone,
                weekly_hours=tuple(WeeklyInterval(d, time(8 + n), time(16 + n))
                                   for d in range(1, 8)),
            ),
            priority=n,
        )
        for n in range(specialists)
    )  # fmt: skip
    calendar = Calendar(
        id=uuid.UUID(int=1000), timezone=zone, duration_min=45, slot_interval_min=15,
        horizon=RollingHorizon(days), specialists=members, buffer_before_min=buffers[0],
        buffer_after_min=buffers[1], min_notice_min=60, daily_cap=daily_cap,
        assignment=assignment,
    )  # fmt: skip
    return CalendarSnapshot(
        calendar=calendar, organization_id=ORG, name="c", service_id=uuid.uuid4(), public=True,
        active=True, hold_ttl_s=600, booked=booked, assignment_counts=counts or {},
    )  # fmt: skip


def hold_on(state: CalendarState, slot: Slot, specialist: uuid.UUID, n: int) -> Hold:
    return Hold(
        id=uuid.UUID(int=10_000 + n), calendar_id=state.calendar.id, organization_id=ORG,
        specialist_id=specialist, start=slot.start, end=slot.end,
        expires_at=NOW + timedelta(minutes=10), holder=f"user:{n}",
    )  # fmt: skip


def fresh(state: CalendarState, now: datetime) -> list[Slot]:
    """What a newly loaded shard would compute from the same rules, bookings and holds."""
    snap = dataclasses.replace(state.snap, booked=tuple(state.booked.values()))
    return CalendarState(snap, state.holds.values(), now).slot_list()


@pytest.mark.parametrize(
    ("daily_cap", "assignment"),
    [(None, AssignmentStrategy.PRIORITY), (2, AssignmentStrategy.PRIORITY),
     (None, AssignmentStrategy.ROUND_ROBIN)],
)  # fmt: skip
def test_random_holds_releases_and_bookings_match_a_full_recomputation(
    daily_cap: int | None, assignment: AssignmentStrategy
) -> None:
    rng = random.Random((daily_cap or 7) + len(assignment.value))
    # Round robin with counts that put the last-ranked specialist first: a freed specialist
    # must rejoin each slot at its place in that order.
    counts = {uuid.UUID(int=1): 5, uuid.UUID(int=2): 3, uuid.UUID(int=3): 0}
    state = CalendarState(snapshot(daily_cap=daily_cap, assignment=assignment, counts=counts),
                          [], NOW)  # fmt: skip
    subscriber = {s.start: s for s in state.slot_list()}
    for n in range(300):
        delta = DeltaBuilder()
        roll = rng.random()
        if roll < 0.55 and state.slots:
            slot = rng.choice(state.slot_list())
            who = (
                state.choose(slot, None) if rng.random() < 0.5 else rng.choice(slot.specialist_ids)
            )
            state.add_hold(hold_on(state, slot, who, n), NOW, delta)
        elif roll < 0.85 and state.holds:
            state.drop_hold(rng.choice(list(state.holds)), NOW, delta)
        elif state.holds:
            hold = state.holds[rng.choice(list(state.holds))]
            state.drop_hold(hold.id, NOW, delta)
            state.add_booking(BookedInterval(uuid.uuid4(), hold.specialist_id, hold.start,
                                             hold.end, 5, 10), NOW, delta)  # fmt: skip
        apply_delta(subscriber, *delta.build(state.slots))
        assert state.slot_list() == fresh(state, NOW), f"step {n}"
        assert subscriber == dict(state.slots), f"step {n}"


def test_time_moving_on_is_a_delta_to_the_state_a_later_load_computes() -> None:
    state = CalendarState(snapshot(), [], NOW)
    subscriber = {s.start: s for s in state.slot_list()}
    for hours in (1, 5, 26, 80):
        later = NOW + timedelta(hours=hours, seconds=17)
        delta = DeltaBuilder()
        state.advance(later, delta)
        upserted, removed = delta.build(state.slots)
        apply_delta(subscriber, upserted, removed)
        assert removed and state.slot_list() == fresh(state, later)
        assert subscriber == dict(state.slots)


def test_a_hold_on_the_only_specialist_removes_the_slot_and_its_neighbours_within_buffers() -> None:
    state = CalendarState(snapshot(specialists=1), [], NOW)
    slot = state.slot_list()[10]
    delta = DeltaBuilder()
    state.add_hold(hold_on(state, slot, slot.specialist_ids[0], 1), NOW, delta)
    upserted, removed = delta.build(state.slots)
    assert upserted == [] and slot.start in [r.start for r in removed]
    # 45 min + 15 min of buffers: starts within an hour either side clash.
    assert all(abs(r.start - slot.start) < timedelta(hours=1) for r in removed)
    delta = DeltaBuilder()
    state.drop_hold(uuid.UUID(int=10_001), NOW, delta)
    upserted, removed = delta.build(state.slots)
    assert removed == [] and slot in upserted


def test_a_batch_of_changes_nets_out_in_one_delta() -> None:
    state = CalendarState(snapshot(), [], NOW)
    slot = state.slot_list()[3]
    delta = DeltaBuilder()
    hold = hold_on(state, slot, slot.specialist_ids[0], 1)
    state.add_hold(hold, NOW, delta)
    state.drop_hold(hold.id, NOW, delta)
    assert delta.build(state.slots) == ([], [])


def test_hold_status_machine_has_three_final_states() -> None:
    state = CalendarState(snapshot(), [], NOW)
    slot = state.slot_list()[0]
    hold = hold_on(state, slot, slot.specialist_ids[0], 1)
    for end in (HoldStatus.BOOKED, HoldStatus.RELEASED, HoldStatus.EXPIRED):
        done = hold.to(end)
        assert done.status is end and not done.live(NOW)
        with pytest.raises(InvalidHoldTransition):
            done.to(HoldStatus.RELEASED)
    assert hold.live(NOW) and not hold.live(hold.expires_at)


def test_records_checkpoints_and_deltas_round_trip() -> None:
    state = CalendarState(snapshot(), [], NOW)
    slots = state.slot_list()[:20]
    assert decode_slots(encode_slots(slots)) == slots
    hold = hold_on(state, slots[0], slots[0].specialist_ids[0], 1)
    assert decode_hold(encode_hold(hold)) == hold
    data = delta_json(state.calendar.id, slots[:3], [])
    assert parse_delta(data) == (slots[:3], [])
    assert "holder" not in str(data) and "patient" not in str(data)


@pytest.mark.parametrize("daily_cap", [None, 2])
def test_foreign_holds_and_bookings_of_a_sibling_calendar_match_a_full_recomputation(
    daily_cap: int | None,
) -> None:
    """Another calendar's holds and bookings on our specialists (the shard applies them here):
    incremental maintenance equals a fresh load that knows them, and the deltas follow."""
    rng = random.Random(31 + (daily_cap or 0))
    state = CalendarState(snapshot(daily_cap=daily_cap), [], NOW)
    subscriber = {s.start: s for s in state.slot_list()}
    other = uuid.UUID(int=77)  # the sibling calendar
    foreign: dict[uuid.UUID, Hold] = {}
    theirs: list[uuid.UUID] = []
    for n in range(300):
        delta = DeltaBuilder()
        roll = rng.random()
        if roll < 0.4 and state.slots:
            slot = rng.choice(state.slot_list())
            held = dataclasses.replace(
                hold_on(state, slot, rng.choice(slot.specialist_ids), n), calendar_id=other
            )
            foreign[held.id] = held
            state.add_foreign(held, NOW, delta)
        elif roll < 0.65 and foreign:
            gone = foreign.pop(rng.choice(list(foreign)))
            state.drop_foreign(gone.id, NOW, delta)
        elif roll < 0.85 and foreign:
            held = foreign.pop(rng.choice(list(foreign)))
            state.drop_foreign(held.id, NOW, delta)
            booked = BookedInterval(uuid.uuid4(), held.specialist_id, held.start, held.end, 5, 10)
            state.add_booking(booked, NOW, delta, own=False)
            theirs.append(booked.appointment_id)
        elif theirs:
            state.drop_booking(theirs.pop(rng.randrange(len(theirs))), NOW, delta, own=False)
        apply_delta(subscriber, *delta.build(state.slots))
        snap = dataclasses.replace(state.snap, booked=tuple(state.booked.values()))
        reloaded = CalendarState(snap, [], NOW, foreign.values())
        assert state.slot_list() == reloaded.slot_list(), f"step {n}"
        assert subscriber == dict(state.slots), f"step {n}"
    assert state.counts == {}, "another calendar's bookings do not count for assignment"
