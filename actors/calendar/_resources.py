"""Rooms and equipment in the slot lists: a slot keeps a specialist only when
every piece of equipment the service requires is free over the slot and a room of the required
kind is free at the location the specialist works at then, chosen as the database's trigger
chooses it (m2026_12_06t01): the specialist's location of that weekday and hour, else the
required equipment's location, else any room of the kind. The database stays the proof; this
is what keeps a taken room from being offered. `filter_slots` is pure; `ResourceBooks` is the
shard's I/O around it."""

from __future__ import annotations

import uuid
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from actors.calendar import messages as m
from actors.calendar._live import LiveCalendar
from actors.calendar._state import DeltaBuilder, SeatSlot
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


def _can_take(book: ResourceBook, needs: Requirements, sid: uuid.UUID, slot: Slot) -> bool:
    if not all(_free(book, e, slot.start, slot.end) for e in needs.equipment_ids):
        return False
    if needs.room_kind is None:
        return True
    place = _location(book, needs, sid, slot.start)
    return any(
        kind == needs.room_kind
        and (place is None or at == place)
        and _free(book, room, slot.start, slot.end)
        for room, kind, at in book.rooms
    )


def filter_slots(book: ResourceBook, service_id: uuid.UUID, slots: list[Slot]) -> list[Slot]:
    """`slots` without the specialists (and so without the slots) whose required resources
    are taken. A group calendar's slots pass unchanged: its participants share the room."""
    needs = book.needs.get(service_id)
    if needs is None:
        return slots
    out: list[Slot] = []
    for slot in slots:
        if isinstance(slot, SeatSlot):
            out.append(slot)
            continue
        ids = tuple(sid for sid in slot.specialist_ids if _can_take(book, needs, sid, slot))
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

    async def _read(self, pool: TenantPool, org_id: uuid.UUID, now: datetime) -> ResourceBook:
        async with pool.tenant(org_id, acquire_timeout=5) as conn:
            book = await load_resource_book(conn, org_id, now)
        self._books[org_id] = book
        return book

    async def attach(self, pool: TenantPool, live: LiveCalendar, now: datetime) -> None:
        """A calendar just loaded: filter its slots when its service needs resources. The book
        is read again on every load (rare: once per calendar and shard life, or after an idle
        eviction), so requirements edited over REST apply from the calendar's next load."""
        org = live.organization_id
        book = await self._read(pool, org, now)
        service = live.state.snap.service_id
        if service not in book.needs or live.state.group:
            return
        live.state.resources = lambda slots: filter_slots(
            self._books.get(org, EMPTY_BOOK), service, slots
        )
        live.state.replace_snapshot(live.state.snap, now, live.changed_by_sibling(), rules=False)

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
