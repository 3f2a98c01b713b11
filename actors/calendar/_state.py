"""One calendar's live availability, pure (no I/O): rules, appointments, holds, the slot list.

The CalendarShard actor owns one `CalendarState` per calendar it has touched and does the I/O
around it. The slot list covers the calendar's whole bookable window (now + notice to the end of
its horizon, capped) and is what subscribers of `calendar:{id}` hold: every mutation here records
the slots it changed in a `DeltaBuilder`, and the actor publishes that as one `slots.changed`.
Time moving on is a mutation too (`advance`): slots leave at the notice edge and enter at the
rolling horizon's edge, so a snapshot plus its deltas stays exactly the current list (invariant 3).

Recomputation is local: a hold or an appointment only changes slots within reach of its padded
interval (or, with a daily cap, its specialist's day), so only that window is recomputed.
"""

from __future__ import annotations

import uuid
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from actors._pool.compact import compact
from pipelines.availability import (
    BusyInterval,
    Calendar,
    CampaignPeriod,
    RemovedSlot,
    Slot,
    choose_specialist,
    compute_slots,
    preference_order,
)
from storage.scheduling import BookedInterval, CalendarSnapshot

# The slot list is kept for at most this far ahead (bounded memory per calendar).
MAX_HORIZON = timedelta(days=400)
# Busy time this far around a recomputed window can affect it when a daily cap counts whole
# specialist-local days.
_NEAR = timedelta(days=3)
# Without a cap only buffers reach across: the calendar's and the appointment's, each side at
# most 240 minutes (the schema's bound), plus the length of a slot.
_BUFFERS_REACH = timedelta(minutes=4 * 240)
# A daily cap counts a specialist-local day: every start within this of a change may move.
_DAY_REACH = timedelta(days=2)


class HoldStatus(StrEnum):
    """held -> booked | released | expired; the three ends are final."""

    HELD = "held"
    BOOKED = "booked"
    RELEASED = "released"
    EXPIRED = "expired"


_NEXT: Mapping[HoldStatus, frozenset[HoldStatus]] = {
    HoldStatus.HELD: frozenset({HoldStatus.BOOKED, HoldStatus.RELEASED, HoldStatus.EXPIRED}),
    HoldStatus.BOOKED: frozenset(),
    HoldStatus.RELEASED: frozenset(),
    HoldStatus.EXPIRED: frozenset(),
}


class InvalidHoldTransition(ValueError):
    pass


def next_hold_status(current: HoldStatus, to: HoldStatus) -> HoldStatus:
    if to not in _NEXT[current]:
        raise InvalidHoldTransition(f"a {current.value} hold cannot become {to.value}")
    return to


@compact
@dataclass(frozen=True, slots=True)
class Hold:
    """A hold as the shard keeps it (and as its Redis record stores it)."""

    id: uuid.UUID
    calendar_id: uuid.UUID
    organization_id: uuid.UUID
    specialist_id: uuid.UUID
    start: datetime
    end: datetime
    expires_at: datetime
    holder: str  # "patient:<id>", "user:<id>" or "anon:<token digest>"; never patient data
    status: HoldStatus = HoldStatus.HELD
    public: bool = False  # made through the public API (booked with its hold token)
    # On a group calendar a hold takes one seat of the class: its number among the live holds
    # of the session, so each seat has its own Redis fence (actors/calendar/_store.py).
    seat: int | None = None

    def busy(self) -> BusyInterval:
        return BusyInterval(self.specialist_id, self.start, self.end)

    def live(self, now: datetime) -> bool:
        return self.status is HoldStatus.HELD and self.expires_at > now

    def to(self, status: HoldStatus) -> Hold:
        return replace(self, status=next_hold_status(self.status, status))


@dataclass(frozen=True, slots=True)
class SeatSlot(Slot):
    """A slot of a group calendar: `seats_left` seats are free in its sessions (summed over
    its specialists). A change of the count alone is a change of the slot (a delta carries it)."""

    seats_left: int = 0


def seat_slots(
    calendar: Calendar,
    free: list[Slot],
    sessions: Mapping[tuple[uuid.UUID, datetime], tuple[datetime, int]],
    capacity: int,
) -> list[Slot]:
    """The slots of a group calendar: `free` are the starts where each specialist is free of
    everything but this calendar's own sessions; `sessions` maps (specialist, start) to (end,
    seats taken). A session takes its specialist's time around it as any booking does (the
    engine's rule, as in `CalendarState._block`), except at its own start, which stays a slot
    while seats are left."""
    pad = timedelta(minutes=calendar.buffer_before_min + calendar.buffer_after_min)
    reach = pad + timedelta(minutes=calendar.duration_min) - timedelta(seconds=1)
    by_specialist: dict[uuid.UUID, list[tuple[datetime, datetime, int]]] = {}
    for (sid, start), (end, taken) in sessions.items():
        by_specialist.setdefault(sid, []).append((start, end, taken))
    out: list[Slot] = []
    for slot in free:
        ids: list[uuid.UUID] = []
        seats = 0
        for sid in slot.specialist_ids:
            left = capacity
            for start, end, taken in by_specialist.get(sid, ()):
                if start == slot.start:
                    left = capacity - taken
                elif start - reach <= slot.start < end + pad:
                    left = 0
                    break
            if left > 0:
                ids.append(sid)
                seats += left
        if ids:
            out.append(SeatSlot(slot.start, slot.end, tuple(ids), seats))
    return out


class DeltaBuilder:
    """Collects the slots a series of mutations touched; `build` gives the net delta."""

    def __init__(self) -> None:
        self._before: dict[datetime, Slot | None] = {}

    def touch(self, start: datetime, old: Slot | None) -> None:
        self._before.setdefault(start, old)

    def freed(self, now_slots: Mapping[datetime, Slot]) -> list[Slot]:
        """The slots this change made available: new, or with a specialist or a seat more
        (what the waitlist is offered)."""
        out: list[Slot] = []
        for start, old in self._before.items():
            new = now_slots.get(start)
            if new is None or new == old:
                continue
            if old is None or not set(new.specialist_ids) <= set(old.specialist_ids):
                out.append(new)
            elif isinstance(new, SeatSlot) and isinstance(old, SeatSlot):
                if new.seats_left > old.seats_left:
                    out.append(new)
        out.sort(key=lambda s: s.start)
        return out

    def merged(self, later: DeltaBuilder) -> DeltaBuilder:
        """This change followed by `later` (the earliest known value of each start wins)."""
        both = DeltaBuilder()
        both._before = dict(later._before)
        both._before.update(self._before)
        return both

    def build(self, now_slots: Mapping[datetime, Slot]) -> tuple[list[Slot], list[RemovedSlot]]:
        upserted: list[Slot] = []
        removed: list[RemovedSlot] = []
        for start, old in self._before.items():
            new = now_slots.get(start)
            if new == old:
                continue
            if new is None:
                assert old is not None
                removed.append(RemovedSlot(old.start, old.end))
            else:
                upserted.append(new)
        upserted.sort(key=lambda s: s.start)
        removed.sort(key=lambda s: s.start)
        return upserted, removed


def _ceil_second(t: datetime) -> datetime:
    whole = t.replace(microsecond=0)
    return whole if whole == t else whole + timedelta(seconds=1)


def bookable_window(calendar: Calendar, now: datetime) -> tuple[datetime, datetime]:
    """Where slots can start: from now to the end of the horizon (capped at MAX_HORIZON)."""
    horizon = calendar.horizon
    if isinstance(horizon, CampaignPeriod):
        # The engine filters by calendar-local date; a day either side covers every zone.
        start = datetime.combine(horizon.start, time(0), UTC) - timedelta(days=1)
        end = datetime.combine(horizon.end, time(0), UTC) + timedelta(days=2)
        lo, hi = max(now, start), max(now, end)
    else:
        lo, hi = now, now + timedelta(days=horizon.days)
    return lo, min(hi, now + MAX_HORIZON)


class CalendarState:
    """Rules, appointments and live holds of one calendar, and its slot list."""

    def __init__(
        self,
        snap: CalendarSnapshot,
        holds: Iterable[Hold],
        now: datetime,
        foreign: Iterable[Hold] = (),
    ) -> None:
        self.snap = snap
        self.calendar = snap.calendar
        self.booked: dict[uuid.UUID, BookedInterval] = {b.appointment_id: b for b in snap.booked}
        # Each booking as the engine sees it for this calendar's buffers, made once: every
        # change recomputes around itself and reads the bookings near it again.
        self._busy_of: dict[uuid.UUID, BusyInterval] = {}
        self.holds: dict[uuid.UUID, Hold] = {}
        self.by_holder: dict[str, uuid.UUID] = {}
        # Live holds of the organization's other calendars on this calendar's specialists: the
        # shard owns every calendar of the organization and keeps them here, so a time held
        # elsewhere is busy here too (the holder and expiry belong to the other calendar).
        self.foreign: dict[uuid.UUID, Hold] = {}
        for hold in foreign:
            if hold.status is HoldStatus.HELD and self.has_member(hold.specialist_id):
                self.foreign[hold.id] = hold
        for hold in holds:
            if hold.status is HoldStatus.HELD:
                self._index(hold)
        # Preference order of listed specialists uses the counts of the last rules load, so a
        # booking does not reorder (and republish) every slot of a round-robin calendar; the
        # choice of specialist for a hold uses the live counts.
        self.order_counts: dict[uuid.UUID, int] = dict(snap.assignment_counts)
        self.counts: dict[uuid.UUID, int] = dict(snap.assignment_counts)
        self._starts: list[datetime] = []
        self._slots: dict[datetime, Slot] = {}
        # Set by the shard when the service requires rooms or equipment: drops the specialists
        # whose resources are taken (actors/calendar/_resources.py), then `recompute` applies it.
        self.resources: Callable[[list[Slot]], list[Slot]] | None = None
        self.lo, self.hi = bookable_window(self.calendar, now)
        self._fill(self._compute(now, self.lo, self.hi))

    # --- queries ---------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        return self.snap.capacity

    @property
    def group(self) -> bool:
        """A class: each hold and booking takes one seat of its session."""
        return self.snap.capacity > 1

    @property
    def _incremental(self) -> bool:
        """Whether a hold can be applied by blocking its time (no cap, no seats to count)."""
        return self.calendar.daily_cap is None and not self.group and self.resources is None

    def free_seat(self, specialist_id: uuid.UUID, start: datetime) -> int:
        """The lowest seat number no live hold of this session uses."""
        used = {
            h.seat for h in self.holds.values()
            if h.specialist_id == specialist_id and h.start == start
        }  # fmt: skip
        return next(i for i in range(len(used) + 1) if i not in used)

    @property
    def slots(self) -> Mapping[datetime, Slot]:
        return self._slots

    def slot_list(self) -> list[Slot]:
        return [self._slots[s] for s in self._starts]

    def view(self, start: datetime, end: datetime) -> list[Slot]:
        i, j = bisect_left(self._starts, start), bisect_left(self._starts, end)
        return [self._slots[s] for s in self._starts[i:j]]

    def slot_at(self, start: datetime) -> Slot | None:
        return self._slots.get(start)

    def choose(self, slot: Slot, specialist_id: uuid.UUID | None) -> uuid.UUID:
        """The specialist a new hold on `slot` goes to (raises AssignmentError)."""
        return choose_specialist(self.calendar, slot, specialist_id, self.counts)

    def has_member(self, specialist_id: uuid.UUID) -> bool:
        return any(m.specialist.id == specialist_id for m in self.calendar.specialists)

    def holder_hold(self, holder: str) -> Hold | None:
        hold_id = self.by_holder.get(holder)
        return None if hold_id is None else self.holds.get(hold_id)

    def expired(self, now: datetime) -> list[Hold]:
        return [h for h in self.holds.values() if h.expires_at <= now]

    # --- mutations (each records what it changed in `delta`) -------------------------------

    def advance(self, now: datetime, delta: DeltaBuilder) -> None:
        """Time moved on: drop starts before the notice edge, add those the horizon reached."""
        edge = _ceil_second(now) + timedelta(minutes=self.calendar.min_notice_min)
        cut = bisect_left(self._starts, edge)
        for start in self._starts[:cut]:
            delta.touch(start, self._slots.pop(start))
        del self._starts[:cut]
        lo, hi = bookable_window(self.calendar, now)
        self.lo = max(self.lo, lo)
        if hi > self.hi:
            self._replace(self.hi, hi, self._compute(now, self.hi, hi), delta)
            self.hi = hi

    def add_hold(self, hold: Hold, now: datetime, delta: DeltaBuilder) -> None:
        self._index(hold)
        if self._incremental:
            self._block(hold.specialist_id, hold.start, hold.end, delta)
        else:
            self._recompute_around(hold.start, hold.end, now, delta)

    def drop_hold(self, hold_id: uuid.UUID, now: datetime, delta: DeltaBuilder) -> Hold | None:
        hold = self.holds.pop(hold_id, None)
        if hold is None:
            return None
        if self.by_holder.get(hold.holder) == hold_id:
            del self.by_holder[hold.holder]
        if self._incremental:
            self._unblock(hold, now, delta)
        else:
            self._recompute_around(hold.start, hold.end, now, delta)
        return hold

    def add_booking(
        self, booked: BookedInterval, now: datetime, delta: DeltaBuilder, *, own: bool = True
    ) -> None:
        """An appointment that occupies one of our specialists; `own`: booked on this calendar
        (it counts for round-robin assignment), else on another calendar of the organization."""
        self.booked[booked.appointment_id] = booked
        self._busy_of.pop(booked.appointment_id, None)
        if own:
            self.counts[booked.specialist_id] = self.counts.get(booked.specialist_id, 0) + 1
        self._recompute_around(booked.starts_at, booked.ends_at, now, delta, booked)

    def drop_booking(
        self, appointment_id: uuid.UUID, now: datetime, delta: DeltaBuilder, *, own: bool = True
    ) -> BookedInterval | None:
        """An appointment no longer occupies its time (cancelled, no-show, moved away)."""
        booked = self.booked.pop(appointment_id, None)
        self._busy_of.pop(appointment_id, None)
        if booked is None:
            return None
        if own and self.counts.get(booked.specialist_id, 0) > 0:
            self.counts[booked.specialist_id] -= 1
        self._recompute_around(booked.starts_at, booked.ends_at, now, delta, booked)
        return booked

    def add_foreign(self, hold: Hold, now: datetime, delta: DeltaBuilder) -> None:
        """Another calendar of the organization granted a hold on one of our specialists."""
        if hold.id in self.foreign or not self.has_member(hold.specialist_id):
            return
        self.foreign[hold.id] = hold
        if self._incremental:
            self._block(hold.specialist_id, hold.start, hold.end, delta)
        else:
            self._recompute_around(hold.start, hold.end, now, delta)

    def drop_foreign(self, hold_id: uuid.UUID, now: datetime, delta: DeltaBuilder) -> None:
        hold = self.foreign.pop(hold_id, None)
        if hold is None:
            return
        if self._incremental:
            self._unblock(hold, now, delta)
        else:
            self._recompute_around(hold.start, hold.end, now, delta)

    def recompute(self, start: datetime, end: datetime, now: datetime, delta: DeltaBuilder) -> None:
        """Something outside this calendar changed around [start, end) (a room or a piece of
        equipment taken or freed): recompute the slots within reach of it."""
        self._recompute_around(start, end, now, delta)

    def replace_snapshot(
        self, snap: CalendarSnapshot, now: datetime, delta: DeltaBuilder, *, rules: bool
    ) -> None:
        """The database's current view (rules and appointments); recompute everything.

        `rules`: the rules changed, so the preference order may be re-ranked too.
        """
        self.snap = snap
        self.calendar = snap.calendar
        self.booked = {b.appointment_id: b for b in snap.booked}
        self._busy_of = {}
        self.counts = dict(snap.assignment_counts)
        if rules:
            self.order_counts = dict(snap.assignment_counts)
        self.lo, self.hi = bookable_window(self.calendar, now)
        fresh = self._compute(now, self.lo, self.hi)
        for start in self._starts:
            delta.touch(start, self._slots[start])
        for slot in fresh:
            delta.touch(slot.start, self._slots.get(slot.start))
        self._fill(fresh)

    # --- internals -------------------------------------------------------------------------

    def _index(self, hold: Hold) -> None:
        self.holds[hold.id] = hold
        self.by_holder[hold.holder] = hold.id

    def _near(self) -> timedelta:
        """How far around a window busy time can change its slots. Every change recomputes
        around itself, and each recompute reads the bookings this near: on a busy calendar a
        reach of days instead of hours was the shard's largest cost."""
        cal = self.calendar
        if cal.daily_cap is not None:
            return _NEAR
        return _BUFFERS_REACH + timedelta(minutes=cal.duration_min)

    def _busy(self, lo: datetime, hi: datetime) -> Iterator[BusyInterval]:
        near = self._near()
        a, b = lo - near, hi + near
        for booked in self.booked.values():
            if booked.starts_at < b and booked.ends_at > a:
                yield self._as_busy(booked)

    def _as_busy(self, booked: BookedInterval) -> BusyInterval:
        busy = self._busy_of.get(booked.appointment_id)
        if busy is None:
            busy = self._busy_of[booked.appointment_id] = booked.as_busy(self.calendar)
        return busy

    def _held(self, lo: datetime, hi: datetime) -> Iterator[BusyInterval]:
        near = self._near()
        a, b = lo - near, hi + near
        for held in (self.holds, self.foreign):
            for hold in held.values():
                if hold.start < b and hold.end > a:
                    yield hold.busy()

    def _compute(self, now: datetime, lo: datetime, hi: datetime) -> list[Slot]:
        if hi <= lo:
            return []
        if self.group:
            seats = self._compute_seats(now, lo, hi)
            return seats if self.resources is None else self.resources(seats)
        slots = compute_slots(
            self.calendar,
            list(self._busy(lo, hi)),
            list(self._held(lo, hi)),
            now,
            lo,
            hi,
            self.order_counts,
        )
        return slots if self.resources is None else self.resources(slots)

    def _compute_seats(self, now: datetime, lo: datetime, hi: datetime) -> list[Slot]:
        """A group calendar: its own participants and holds are seats of their sessions, not
        busy time; everything else (other calendars' bookings and holds) is."""
        near = self._near()
        a, b = lo - near, hi + near
        own = self.calendar.id
        sessions: dict[tuple[uuid.UUID, datetime], tuple[datetime, int]] = {}

        def seat(sid: uuid.UUID, start: datetime, end: datetime) -> None:
            taken = sessions.get((sid, start), (end, 0))[1]
            sessions[(sid, start)] = (end, taken + 1)

        busy: list[BusyInterval] = []
        for booked in self.booked.values():
            if not (booked.starts_at < b and booked.ends_at > a):
                continue
            if booked.group_session_id is not None and booked.calendar_id == own:
                seat(booked.specialist_id, booked.starts_at, booked.ends_at)
            else:
                busy.append(self._as_busy(booked))
        for hold in self.holds.values():
            if hold.start < b and hold.end > a:
                seat(hold.specialist_id, hold.start, hold.end)
        held = [h.busy() for h in self.foreign.values() if h.start < b and h.end > a]
        free = compute_slots(self.calendar, busy, held, now, lo, hi, self.order_counts)
        return seat_slots(self.calendar, free, sessions, self.capacity)

    def _block(
        self, specialist_id: uuid.UUID, start: datetime, end: datetime, delta: DeltaBuilder
    ) -> None:
        """A new busy interval without a daily cap: exactly the engine's answer, cheaper.

        The engine keeps a start s of the specialist iff s is outside
        [start - pad - duration + 1 s, end + pad) (whole seconds); adding busy time never changes
        alignment or anyone else's availability, so removing the specialist from those slots
        (and a slot nobody else can take) is the full recomputation."""
        cal = self.calendar
        pad = timedelta(minutes=cal.buffer_before_min + cal.buffer_after_min)
        lo = start - pad - timedelta(minutes=cal.duration_min) + timedelta(seconds=1)
        i, j = bisect_left(self._starts, lo), bisect_left(self._starts, end + pad)
        kept: list[datetime] = []
        for s in self._starts[i:j]:
            slot = self._slots[s]
            if specialist_id not in slot.specialist_ids:
                kept.append(s)
                continue
            delta.touch(s, slot)
            others = tuple(x for x in slot.specialist_ids if x != specialist_id)
            if others:
                self._slots[s] = Slot(slot.start, slot.end, others)
                kept.append(s)
            else:
                del self._slots[s]
        self._starts[i:j] = kept

    def _recompute_around(
        self,
        start: datetime,
        end: datetime,
        now: datetime,
        delta: DeltaBuilder,
        booked: BookedInterval | None = None,
    ) -> None:
        cal = self.calendar
        if cal.daily_cap is not None:
            lo, hi = start - _DAY_REACH, end + _DAY_REACH
        else:
            # A start s is affected iff [s, s + duration) comes within the buffers of the
            # interval (its own buffers may be wider when booked by staff with other rules).
            pad = timedelta(minutes=cal.buffer_before_min + cal.buffer_after_min)
            if booked is not None:
                pad += timedelta(minutes=booked.buffer_before_min + booked.buffer_after_min)
            reach = pad + timedelta(minutes=cal.duration_min)
            lo, hi = start - reach, end + reach + timedelta(seconds=1)
        lo, hi = max(lo, self.lo), min(hi, self.hi)
        if hi > lo:
            self._replace(lo, hi, self._compute(now, lo, hi), delta)

    def _unblock(self, hold: Hold, now: datetime, delta: DeltaBuilder) -> None:
        """A hold gone without a daily cap: exactly the engine's answer, cheaper.

        Freeing time never changes alignment or anyone else's availability and only adds starts
        of the hold's specialist, so the engine is asked for that one specialist's slots within
        reach of the hold, and the specialist joins those slots in preference order."""
        cal = self.calendar
        sid = hold.specialist_id
        member = next((m for m in cal.specialists if m.specialist.id == sid), None)
        reach = timedelta(minutes=cal.buffer_before_min + cal.buffer_after_min + cal.duration_min)
        lo = max(hold.start - reach, self.lo)
        hi = min(hold.end + reach + timedelta(seconds=1), self.hi)
        if member is None or hi <= lo:
            return  # a specialist no longer on the calendar blocked nothing here
        own = [b for b in (*self._busy(lo, hi), *self._held(lo, hi)) if b.specialist_id == sid]
        alone = compute_slots(replace(cal, specialists=(member,)), own, [], now, lo, hi)
        if not alone:
            return
        rank = {m.specialist.id: i for i, m in enumerate(preference_order(cal, self.order_counts))}
        for slot in alone:
            current = self._slots.get(slot.start)
            if current is None:
                delta.touch(slot.start, None)
                self._slots[slot.start] = slot
                insort(self._starts, slot.start)
            elif sid not in current.specialist_ids:
                delta.touch(slot.start, current)
                ids = sorted((*current.specialist_ids, sid), key=rank.__getitem__)
                self._slots[slot.start] = Slot(current.start, current.end, tuple(ids))

    def _fill(self, slots: list[Slot]) -> None:
        self._starts = [s.start for s in slots]
        self._slots = {s.start: s for s in slots}

    def _replace(self, lo: datetime, hi: datetime, fresh: list[Slot], delta: DeltaBuilder) -> None:
        i, j = bisect_left(self._starts, lo), bisect_left(self._starts, hi)
        for start in self._starts[i:j]:
            delta.touch(start, self._slots.pop(start))
        for slot in fresh:
            delta.touch(slot.start, None)
            self._slots[slot.start] = slot
        self._starts[i:j] = [s.start for s in fresh]


def apply_delta(
    slots: dict[datetime, Slot], upserted: Iterable[Slot], removed: Iterable[RemovedSlot]
) -> None:
    """What a subscriber does with a `slots.changed` delta (also used to rebuild a view)."""
    for gone in removed:
        slots.pop(gone.start, None)
    for slot in upserted:
        slots[slot.start] = slot
