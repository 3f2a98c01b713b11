"""The waitlist as its calendar shard decides it (pure parts): which waiting entry a freed slot
goes to, the offer's hold, and the frames that announce it.

A freed slot (a cancellation, a no-show, a hold that ended, new hours) is offered in the batch
that freed it, before the batch publishes: the offer is a hold of `waitlist:<entry id>`, so the
slot never reappears in anyone's listing and no one else can hold it while it is offered
(docs/house.md, "Where a new feature goes")."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from actors.calendar._state import CalendarState, Hold
from pipelines.availability import Slot
from storage.rfc3339 import format_instant
from storage.scheduling import WaitlistEntry

HOLDER = "waitlist:"


def holder_of(entry_id: uuid.UUID) -> str:
    return f"{HOLDER}{entry_id}"


def entry_of(hold: Hold) -> uuid.UUID | None:
    """The waitlist entry a hold offers a slot to; None for an ordinary hold."""
    if not hold.holder.startswith(HOLDER):
        return None
    return uuid.UUID(hold.holder[len(HOLDER) :])


def matches(
    state: CalendarState, freed: Sequence[Slot], entries: Iterable[WaitlistEntry]
) -> list[tuple[Slot, WaitlistEntry, uuid.UUID]]:
    """(slot, entry, specialist) for each freed slot that an entry wants: entries in queue order
    (the caller's), each offered at most one slot, the earliest it fits."""
    cal, snap = state.calendar, state.snap
    left = list(entries)
    out: list[tuple[Slot, WaitlistEntry, uuid.UUID]] = []
    for slot in freed:
        for entry in left:
            if entry.eligible(cal.id, snap.service_id, slot.start, slot.end, slot.specialist_ids):
                sid = entry.specialist_id or slot.specialist_ids[0]
                out.append((slot, entry, sid))
                left.remove(entry)
                break
    return out


def offer_hold(
    state: CalendarState, slot: Slot, entry: WaitlistEntry, specialist_id: uuid.UUID,
    now: datetime, ttl: timedelta,
) -> Hold:  # fmt: skip
    snap = state.snap
    return Hold(
        id=uuid.uuid4(), calendar_id=state.calendar.id, organization_id=snap.organization_id,
        specialist_id=specialist_id, start=slot.start, end=slot.end,
        expires_at=(now + ttl).replace(microsecond=0), holder=holder_of(entry.id),
        seat=state.free_seat(specialist_id, slot.start) if state.group else None,
    )  # fmt: skip


def entry_json(e: WaitlistEntry) -> dict[str, Any]:
    """An entry as the API and the staff channel show it (never its note on the channel)."""

    def at(t: datetime | None) -> str | None:
        return None if t is None else format_instant(t)

    def ident(v: uuid.UUID | None) -> str | None:
        return None if v is None else str(v)

    offer = None
    if e.offer_hold_id is not None:
        offer = {
            "hold_id": str(e.offer_hold_id), "calendar_id": ident(e.offer_calendar_id),
            "specialist_id": ident(e.offer_specialist_id), "start": at(e.offer_starts_at),
            "end": at(e.offer_ends_at), "expires_at": at(e.offer_expires_at),
        }  # fmt: skip
    return {
        "id": str(e.id), "patient_id": str(e.patient_id), "calendar_id": ident(e.calendar_id),
        "service_id": ident(e.service_id), "specialist_id": ident(e.specialist_id),
        "from": at(e.window_from), "to": at(e.window_to), "priority": e.priority,
        "status": e.status.value, "offer": offer, "offers": e.offers,
        "appointment_id": ident(e.appointment_id), "created_at": at(e.created_at),
        "updated_at": at(e.updated_at),
    }  # fmt: skip


def offered_json(e: WaitlistEntry) -> dict[str, Any]:
    """`waitlist.offered` data: the entry, its hold and when the offer ends."""
    assert e.offer_hold_id is not None and e.offer_expires_at is not None
    assert e.offer_starts_at is not None and e.offer_ends_at is not None
    return {
        "entry_id": str(e.id), "hold_id": str(e.offer_hold_id),
        "calendar_id": str(e.offer_calendar_id), "specialist_id": str(e.offer_specialist_id),
        "start": format_instant(e.offer_starts_at), "end": format_instant(e.offer_ends_at),
        "expires_at": format_instant(e.offer_expires_at),
    }  # fmt: skip
