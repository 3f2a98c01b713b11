"""Rooms and equipment in the slot lists: a slot keeps a specialist only when
every piece of equipment the service requires is free over the slot and a room of the required
kind is free at the location the specialist works at then, chosen as the database's trigger
chooses it (m2026_12_06t01): the specialist's location of that weekday and hour, else the
required equipment's location, else any room of the kind. The database stays the proof; this
is what keeps a taken room from being offered. `filter_slots` is pure; `ResourceBooks` is the
shard's I/O around it.

A hold reserves them too, in memory (a `Claim`; the organization's calendars all live in one
shard): its equipment by id, and one room of the kind at its place, counted rather than named,
because the database's trigger picks the room only when the hold is booked. A slot keeps a
specialist only while the free rooms of the kind there outnumber the claims overlapping it, so
every hold granted finds a room when it is booked."""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from actors.calendar import messages as m
from actors.calendar._live import LiveCalendar
from actors.calendar._state import DeltaBuilder, Hold, SeatSlot
from pipelines.availability import Slot
from storage.db import TenantPool
from storage.scheduling import EMPTY_BOOK, Requirements, ResourceBook, load_resource_book


@lru_cache(maxsize=64)
def _zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


def _free(book: ResourceBook, resource: uuid.UUID, start: datetime, end: datetime) -> bool:
    spans = book.taken.get(resource)
    if not spans:
        return True
    # Spans are sorted by start; one that overlaps [start, end) starts before `end`.
    i = bisect_left(spans, (end,))
    return not any(s < end and e > start for s, e in spans[:i])


def _location(
    book: ResourceBook, needs: Requirements, sid: uuid.UUID, at: datetime
) -> uuid.UUID | None:
    placed = book.places.get(sid)
    if placed is not None:
        local = at.astimezone(_zone(placed[0]))
        minute = local.hour * 60 + local.minute
        for weekday, lo, hi, place in placed[1]:
            if weekday == local.isoweekday() and lo <= minute < hi:
                return place
    return next((book.equipment_at[e] for e in needs.equipment_ids if e in book.equipment_at), None)


def _class_slot(
    book: ResourceBook, needs: Requirements, slot: SeatSlot, claims: Sequence[Claim],
    capacity: int,
) -> list[Slot]:  # fmt: skip
    if slot.seats_left < capacity * len(slot.specialist_ids):
        return [slot]  # a session has begun here: it has its room (with several specialists,
        # the others' empty sessions are not checked: conservative the other way round)
    ids = _takers(book, needs, slot, claims)
    if ids == slot.specialist_ids:
        return [slot]
    return [SeatSlot(slot.start, slot.end, ids, capacity * len(ids))] if ids else []


@dataclass(frozen=True, slots=True)
class Claim:
    """What a live hold reserves: `equipment` by id, and a room of `room_kind` at `place` (None:
    any location) without naming it."""

    calendar_id: uuid.UUID
    specialist_id: uuid.UUID
    start: datetime
    end: datetime
    equipment: tuple[uuid.UUID, ...]
    room_kind: str | None
    place: uuid.UUID | None


def _can_take(
    book: ResourceBook, needs: Requirements, sid: uuid.UUID, start: datetime, end: datetime,
    claims: Sequence[Claim] = (),
) -> bool:  # fmt: skip
    if not all(_free(book, e, start, end) for e in needs.equipment_ids):
        return False
    near = [c for c in claims if c.start < end and c.end > start]
    if any(e in c.equipment for c in near for e in needs.equipment_ids):
        return False
    if needs.room_kind is None:
        return True
    place = _location(book, needs, sid, start)
    free = sum(
        1
        for room, kind, at in book.rooms
        if kind == needs.room_kind
        and (place is None or at == place)
        and _free(book, room, start, end)
    )
    held = sum(
        1
        for c in near
        if c.room_kind == needs.room_kind and (place is None or c.place in (None, place))
    )
    return free > held


def _takers(
    book: ResourceBook, needs: Requirements, slot: Slot, claims: Sequence[Claim]
) -> tuple[uuid.UUID, ...]:
    """The slot's specialists for whom what the service needs is free."""
    return tuple(
        sid for sid in slot.specialist_ids
        if _can_take(book, needs, sid, slot.start, slot.end, claims)
    )  # fmt: skip


def _session_begun(live: LiveCalendar, hold: Hold) -> bool:
    """A seat of a class whose session already has a seat booked or held: the session has (or
    claims) its room, which its participants share."""
    if not live.state.group:
        return False
    sid, start = hold.specialist_id, hold.start
    if any(
        h.id != hold.id and h.specialist_id == sid and h.start == start
        for h in live.state.holds.values()
    ):
        return True
    return any(
        b.group_session_id is not None and b.calendar_id == live.calendar_id
        and b.specialist_id == sid and b.starts_at == start
        for b in live.state.booked.values()
    )  # fmt: skip


def claim_of(book: ResourceBook, service_id: uuid.UUID, hold: Hold) -> Claim | None:
    """What `hold` reserves when its service needs rooms or equipment; None when it needs none."""
    needs = book.needs.get(service_id)
    if needs is None:
        return None
    place = None
    if needs.room_kind is not None:
        place = _location(book, needs, hold.specialist_id, hold.start)
    return Claim(hold.calendar_id, hold.specialist_id, hold.start, hold.end, needs.equipment_ids,
                 needs.room_kind, place)  # fmt: skip


def filter_slots(
    book: ResourceBook, service_id: uuid.UUID, slots: list[Slot], claims: Sequence[Claim] = (),
    capacity: int = 1,
) -> list[Slot]:  # fmt: skip
    """`slots` without the specialists (and so without the slots) whose required resources
    are taken, by a booking or by a hold's `claims`. A class (a group calendar's seat slot)
    needs them only for its first seat: once a session has a seat booked or held, its room is
    the session's and its participants share it."""
    needs = book.needs.get(service_id)
    if needs is None:
        return slots
    out: list[Slot] = []
    for slot in slots:
        if isinstance(slot, SeatSlot):
            out.extend(_class_slot(book, needs, slot, claims, capacity))
            continue
        ids = _takers(book, needs, slot, claims)
        if ids == slot.specialist_ids:
            out.append(slot)
        elif ids:
            out.append(Slot(slot.start, slot.end, ids))
    return out


# Requests after which an organization's reservations may have changed.
_WRITES = (m.BookRequest, m.RescheduleAppointment, m.BookSeries, m.WalkIn, m.ChangeStatus)


class ResourceBooks:
    """The shard's books, one per organization that has requirements, and the glue to the
    calendars: a calendar whose service requires rooms or equipment lists only slots they can
    take. A booking, reschedule or status change in a batch re-reads the organization's live
    reservations (one query) and recomputes, on every loaded calendar that needs resources,
    the slots around each reservation that came or went: so a room taken through calendar A
    disappears from calendar B's slots in the same batch, as a specialist does."""

    def __init__(self) -> None:
        self._books: dict[uuid.UUID, ResourceBook] = {}
        # organization -> live hold id -> what it reserves (holds of services that need some)
        self._claims: dict[uuid.UUID, dict[uuid.UUID, Claim]] = {}

    def _claimed(self, org: uuid.UUID) -> list[Claim]:
        return list(self._claims.get(org, {}).values())

    def may_hold(self, live: LiveCalendar, hold: Hold) -> bool:
        """Whether what the hold's service needs is free for it (True when it needs nothing):
        the listing says so already, unless the hold names a start another claim just took."""
        if live.state.resources is None or _session_begun(live, hold):
            return True
        org = live.organization_id
        book = self._books.get(org, EMPTY_BOOK)
        needs = book.needs.get(live.state.snap.service_id)
        if needs is None:
            return True
        claims = self._claimed(org)
        return _can_take(book, needs, hold.specialist_id, hold.start, hold.end, claims)

    def hold_added(
        self, live: LiveCalendar, hold: Hold, calendars: Iterable[LiveCalendar], now: datetime,
        delta: DeltaBuilder | None,
    ) -> None:  # fmt: skip
        """The hold reserves its resources: the organization's other starts that needed them
        go (`delta` is `live`'s own change; None: every calendar's pending one)."""
        if live.state.resources is None or _session_begun(live, hold):
            return
        org = live.organization_id
        claim = claim_of(self._books.get(org, EMPTY_BOOK), live.state.snap.service_id, hold)
        if claim is None:
            return
        self._claims.setdefault(org, {})[hold.id] = claim
        self._around(live, calendars, claim, now, delta)

    def hold_dropped(
        self, live: LiveCalendar, hold_id: uuid.UUID, calendars: Iterable[LiveCalendar],
        now: datetime, delta: DeltaBuilder,
    ) -> None:  # fmt: skip
        """The hold ended (released, expired, booked, or never granted): its resources are free
        again for every calendar (a booking takes them back through `after_writes`). A class's
        claim passes to another seat held in the same session, if any (the room stays)."""
        claims = self._claims.get(live.organization_id, {})
        claim = claims.pop(hold_id, None)
        if claim is None:
            return
        heir = next(
            (h for h in live.state.holds.values()
             if h.id != hold_id and h.start == claim.start
             and h.specialist_id == claim.specialist_id),
            None,
        ) if live.state.group else None  # fmt: skip
        if heir is not None:
            claims[heir.id] = claim
            return
        self._around(live, calendars, claim, now, delta)

    def forget(self, calendar_id: uuid.UUID, org: uuid.UUID) -> None:
        """A calendar left the shard (deleted): its holds reserve nothing any more."""
        claims = self._claims.get(org, {})
        for hold_id in [h for h, c in claims.items() if c.calendar_id == calendar_id]:
            del claims[hold_id]

    @staticmethod
    def _around(
        live: LiveCalendar, calendars: Iterable[LiveCalendar], claim: Claim, now: datetime,
        delta: DeltaBuilder | None,
    ) -> None:  # fmt: skip
        for other in calendars:
            if other.state.resources is None:
                continue
            changes = delta if other is live and delta is not None else other.changed_by_sibling()
            other.state.recompute(claim.start, claim.end, now, changes)

    async def _read(self, pool: TenantPool, org_id: uuid.UUID, now: datetime) -> ResourceBook:
        async with pool.tenant(org_id, acquire_timeout=5) as conn:
            book = await load_resource_book(conn, org_id, now)
        self._books[org_id] = book
        return book

    async def attach(self, pool: TenantPool, live: LiveCalendar, now: datetime) -> None:
        """A calendar just loaded: filter its slots when its service needs resources. The book
        is read again on every load (rare: once per calendar and shard life, or after an idle
        eviction); edits over REST reach loaded calendars through `refresh`."""
        book = await self._read(pool, live.organization_id, now)
        self._shape(live, book, now)

    def _shape(self, live: LiveCalendar, book: ResourceBook, now: datetime) -> bool:
        """Filter the calendar's slots when its service needs resources (and stop when it no
        longer does); True when its slots were recomputed."""
        org, service = live.organization_id, live.state.snap.service_id
        if service in book.needs:
            capacity = live.state.capacity
            live.state.resources = lambda slots: filter_slots(
                self._books.get(org, EMPTY_BOOK), service, slots, self._claimed(org), capacity
            )
        elif live.state.resources is None:
            return False
        else:
            live.state.resources = None
        live.state.replace_snapshot(live.state.snap, now, live.changed_by_sibling(), rules=False)
        return True

    async def refresh(
        self, pool: TenantPool, org: uuid.UUID, calendars: Iterable[LiveCalendar], now: datetime
    ) -> int:
        """The organization's rooms, equipment, places or requirements may have changed: read
        them again and recompute every loaded calendar they shape, or shaped (into each one's
        pending change, published by the caller). Returns how many were recomputed. An
        organization that had no requirements and has none costs one query."""
        before = self._books.get(org)
        book = await self._read(pool, org, now)
        if not book.needs and (before is None or not before.needs):
            return 0
        return sum(self._shape(live, book, now) for live in calendars)

    async def after_writes(
        self,
        pool: TenantPool,
        live: LiveCalendar,
        calendars: Iterable[LiveCalendar],
        requests: Sequence[m.Request],
        now: datetime,
        delta: DeltaBuilder,
    ) -> None:
        org = live.organization_id
        before = self._books.get(org)
        if before is None or not before.needs or not any(isinstance(r, _WRITES) for r in requests):
            return
        after = await self._read(pool, org, now)
        changed = _spans(before) ^ _spans(after)
        if not changed:
            return
        for other in calendars:
            if other.state.resources is None:
                continue
            changes = delta if other is live else other.changed_by_sibling()
            for start, end in {(s, e) for _, s, e in changed}:
                other.state.recompute(start, end, now, changes)


def _spans(book: ResourceBook) -> set[tuple[uuid.UUID, datetime, datetime]]:
    return {(r, s, e) for r, spans in book.taken.items() for s, e in spans}
