"""The waitlist: patients waiting for a freed slot, urgent first, then first come.

Entries are written by the calendar shard that owns their organization (actors/calendar): it
offers a freed slot as an exclusive hold in the batch that freed it, and every change of an
entry's state goes through it, so an entry's state and the shard's holds never disagree.
Runs inside the caller's tenant transaction (`Database.tenant`, `TenantPool.tenant`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import asyncpg

from storage import errors, notifications
from storage.orm import first, rows
from storage.rfc3339 import format_instant
from storage.scheduling._errors import InvalidReference, NotFound
from storage.tables import Calendars, Patients, Services, Specialists, WaitlistEntries

ENTITY = "waitlist entry"
OFFER_KIND = "waitlist_offer"
LIST_LIMIT = 500


class WaitlistStatus(StrEnum):
    """waiting -> offered -> booked; an offer declined or expired goes back to waiting (the
    slot passed on is remembered); waiting or offered -> cancelled. booked and cancelled are
    final."""

    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    CANCELLED = "cancelled"


class WaitlistAction(StrEnum):
    OFFER = "offer"
    PASS = "pass"  # declined, or the offer expired
    ACCEPT = "accept"
    CANCEL = "cancel"


_W, _A = WaitlistStatus, WaitlistAction
WAITLIST_TRANSITIONS: Mapping[tuple[WaitlistStatus, WaitlistAction], WaitlistStatus] = {
    (_W.WAITING, _A.OFFER): _W.OFFERED,
    (_W.OFFERED, _A.PASS): _W.WAITING,
    (_W.OFFERED, _A.ACCEPT): _W.BOOKED,
    (_W.WAITING, _A.CANCEL): _W.CANCELLED,
    (_W.OFFERED, _A.CANCEL): _W.CANCELLED,
}


def next_waitlist_status(current: WaitlistStatus, action: WaitlistAction) -> WaitlistStatus:
    to = WAITLIST_TRANSITIONS.get((current, action))
    if to is None:
        allowed = sorted(a.value for (s, a) in WAITLIST_TRANSITIONS if s is current)
        raise errors.InvalidTransition(ENTITY, current.value, action.value, allowed)
    return to


def passed_key(calendar_id: uuid.UUID, start: datetime) -> str:
    """How an entry remembers a slot it passed on (never offered it again)."""
    return f"{calendar_id}@{format_instant(start)}"


@dataclass(frozen=True, slots=True)
class WaitlistEntry:
    id: uuid.UUID
    organization_id: uuid.UUID
    patient_id: uuid.UUID
    calendar_id: uuid.UUID | None
    service_id: uuid.UUID | None
    specialist_id: uuid.UUID | None
    window_from: datetime
    window_to: datetime
    priority: str
    status: WaitlistStatus
    created_at: datetime
    updated_at: datetime
    offer_hold_id: uuid.UUID | None = None
    offer_calendar_id: uuid.UUID | None = None
    offer_specialist_id: uuid.UUID | None = None
    offer_starts_at: datetime | None = None
    offer_ends_at: datetime | None = None
    offer_expires_at: datetime | None = None
    offers: int = 0
    passed: tuple[str, ...] = ()
    appointment_id: uuid.UUID | None = None
    note: str | None = field(default=None, repr=False)  # patient data: never printed

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> WaitlistEntry:
        return cls(
            id=row["id"], organization_id=row["organization_id"], patient_id=row["patient_id"],
            calendar_id=row["calendar_id"], service_id=row["service_id"],
            specialist_id=row["specialist_id"], window_from=row["window_from"],
            window_to=row["window_to"], priority=row["priority"],
            status=WaitlistStatus(row["status"]), created_at=row["created_at"],
            updated_at=row["updated_at"], offer_hold_id=row["offer_hold_id"],
            offer_calendar_id=row["offer_calendar_id"],
            offer_specialist_id=row["offer_specialist_id"],
            offer_starts_at=row["offer_starts_at"], offer_ends_at=row["offer_ends_at"],
            offer_expires_at=row["offer_expires_at"], offers=row["offers"],
            passed=tuple(row["passed"] or ()), appointment_id=row["appointment_id"],
            note=row["note"],
        )  # fmt: skip

    def eligible(
        self, calendar_id: uuid.UUID, service_id: uuid.UUID, start: datetime, end: datetime,
        specialist_ids: Sequence[uuid.UUID],
    ) -> bool:  # fmt: skip
        """Whether a free slot matches this waiting entry."""
        return (
            self.status is WaitlistStatus.WAITING
            and (self.calendar_id == calendar_id or self.service_id == service_id)
            and (self.specialist_id is None or self.specialist_id in specialist_ids)
            and self.window_from <= start
            and end <= self.window_to
            and passed_key(calendar_id, start) not in self.passed
        )


async def _exists(table: Any, row_id: uuid.UUID) -> bool:
    query = table.select(table.id).where(table.id == row_id)
    if hasattr(table, "deleted_at"):
        query = query.where(table.deleted_at.is_null())
    return await first(query.first()) is not None


async def join_waitlist(
    *,
    organization_id: uuid.UUID,
    patient_id: uuid.UUID,
    calendar_id: uuid.UUID | None,
    service_id: uuid.UUID | None,
    specialist_id: uuid.UUID | None,
    window_from: datetime,
    window_to: datetime,
    priority: str,
    note: str | None,
    created_by: uuid.UUID | None,
    now: datetime,
) -> WaitlistEntry:
    """A new waiting entry. NotFound for an unknown patient, calendar, service or specialist;
    InvalidReference for a window that has passed or is empty."""
    if window_to <= now:
        raise InvalidReference("to", "the window has passed")
    if window_to <= window_from:
        raise InvalidReference("to", "must be after from")
    if (calendar_id is None) == (service_id is None):
        raise InvalidReference("calendar_id", "give exactly one of calendar_id and service_id")
    if not await _exists(Patients, patient_id):
        raise NotFound("patient")
    if calendar_id is not None and not await _exists(Calendars, calendar_id):
        raise NotFound("calendar")
    if service_id is not None and not await _exists(Services, service_id):
        raise NotFound("service")
    if specialist_id is not None and not await _exists(Specialists, specialist_id):
        raise NotFound("specialist")
    found = await rows(
        WaitlistEntries.insert(
            WaitlistEntries(
                organization_id=organization_id,
                patient_id=patient_id,
                calendar_id=calendar_id,
                service_id=service_id,
                specialist_id=specialist_id,
                window_from=max(window_from, now),
                window_to=window_to,
                priority=priority,
                note=note,
                created_by=created_by,
                passed=[],
            )  # fmt: skip
        ).returning(*WaitlistEntries.all_columns())
    )
    return WaitlistEntry.from_row(found[0])


async def waitlist_entry(
    entry_id: uuid.UUID, *, patient_id: uuid.UUID | None = None, lock: bool = False
) -> WaitlistEntry:
    """The entry (only the patient's own when `patient_id` is given); NotFound otherwise."""
    query = WaitlistEntries.select().where(WaitlistEntries.id == entry_id)
    if patient_id is not None:
        query = query.where(WaitlistEntries.patient_id == patient_id)
    if lock:
        query = query.lock_rows("NO KEY UPDATE")
    row = await first(query.first())
    if row is None:
        raise NotFound(ENTITY)
    return WaitlistEntry.from_row(row)


async def list_waitlist(
    *,
    calendar_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    statuses: Sequence[str] = ("waiting", "offered"),
    limit: int = LIST_LIMIT,
) -> list[WaitlistEntry]:
    """Entries in queue order: urgent first, then first come."""
    query = WaitlistEntries.select().where(WaitlistEntries.status.is_in(list(statuses)))
    if calendar_id is not None:
        query = query.where(
            (WaitlistEntries.calendar_id == calendar_id)
            | (WaitlistEntries.offer_calendar_id == calendar_id)
        )
    if patient_id is not None:
        query = query.where(WaitlistEntries.patient_id == patient_id)
    found = await rows(query.order_by(WaitlistEntries.created_at).limit(limit))
    entries = [WaitlistEntry.from_row(r) for r in found]
    return sorted(entries, key=lambda e: (e.priority != "urgent", e.created_at))


async def waiting_for(
    calendar_id: uuid.UUID, service_id: uuid.UUID, now: datetime
) -> list[WaitlistEntry]:
    """The waiting entries a freed slot of this calendar may go to, in queue order."""
    query = WaitlistEntries.select().where(
        (WaitlistEntries.status == WaitlistStatus.WAITING.value)
        & (WaitlistEntries.window_to > now)
        & (
            (WaitlistEntries.calendar_id == calendar_id)
            | (WaitlistEntries.service_id == service_id)
        )
    )
    found = await rows(query.order_by(WaitlistEntries.created_at).limit(LIST_LIMIT))
    entries = [WaitlistEntry.from_row(r) for r in found]
    return sorted(entries, key=lambda e: (e.priority != "urgent", e.created_at))


async def has_waiting() -> bool:
    """Whether the organization has any waiting entry (the shard asks before looking)."""
    row = await first(
        WaitlistEntries.select(WaitlistEntries.id)
        .where(WaitlistEntries.status == WaitlistStatus.WAITING.value)
        .first()
    )
    return row is not None


async def _move(
    entry: WaitlistEntry, action: WaitlistAction, values: dict[Any, Any]
) -> WaitlistEntry:
    status = next_waitlist_status(entry.status, action)
    found = await rows(
        WaitlistEntries.update({**values, "status": status.value, "updated_at": datetime.now(UTC)})
        .where((WaitlistEntries.id == entry.id) & (WaitlistEntries.status == entry.status.value))
        .returning(*WaitlistEntries.all_columns())
    )
    if not found:
        raise NotFound(ENTITY)
    return WaitlistEntry.from_row(found[0])


async def offer_entry(
    conn: asyncpg.Connection,
    entry: WaitlistEntry,
    *,
    hold_id: uuid.UUID,
    calendar_id: uuid.UUID,
    service_id: uuid.UUID,
    specialist_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    expires_at: datetime,
) -> WaitlistEntry:
    """The entry is offered the slot (held for it by `hold_id` until `expires_at`); the patient
    is told through the notification outbox in the same transaction."""
    offered = await _move(entry, WaitlistAction.OFFER, {
        "offer_hold_id": hold_id, "offer_calendar_id": calendar_id,
        "offer_specialist_id": specialist_id, "offer_starts_at": starts_at,
        "offer_ends_at": ends_at, "offer_expires_at": expires_at, "offers": entry.offers + 1,
    })  # fmt: skip
    await notifications.enqueue(
        conn,
        organization_id=entry.organization_id,
        kind=OFFER_KIND,
        patient_id=entry.patient_id,
        dedupe_key=f"waitlist:{entry.id}:{hold_id}",
        data={
            "waitlist_entry_id": str(entry.id),
            "hold_id": str(hold_id),
            "calendar_id": str(calendar_id),
            "service_id": str(service_id),
            "specialist_id": str(specialist_id),
            "starts_at": format_instant(starts_at),
            "expires_at": format_instant(expires_at),
        },  # fmt: skip
    )
    return offered


_CLEARED = {
    "offer_hold_id": None, "offer_calendar_id": None, "offer_specialist_id": None,
    "offer_starts_at": None, "offer_ends_at": None, "offer_expires_at": None,
}  # fmt: skip


async def pass_offer(entry: WaitlistEntry) -> WaitlistEntry:
    """Declined or expired: the entry waits again and never gets this slot again."""
    assert entry.offer_calendar_id is not None and entry.offer_starts_at is not None
    key = passed_key(entry.offer_calendar_id, entry.offer_starts_at)
    return await _move(entry, WaitlistAction.PASS, {**_CLEARED, "passed": [*entry.passed, key]})


async def accept_offer(entry: WaitlistEntry, appointment_id: uuid.UUID) -> WaitlistEntry:
    return await _move(entry, WaitlistAction.ACCEPT, {**_CLEARED, "appointment_id": appointment_id})


async def cancel_entry(entry: WaitlistEntry) -> WaitlistEntry:
    return await _move(entry, WaitlistAction.CANCEL, _CLEARED)
