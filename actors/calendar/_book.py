"""Turning a live hold into an appointment in Postgres (the shard calls this under the
calendar's lock, so its state never lags the database). The exclusion constraint has the last
word: a refused insert is a 409 and the shard reloads the calendar."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from actors.calendar import messages as m
from actors.calendar._requests import GuestTerms, guest_terms, record_guest_terms
from actors.calendar._state import Hold, HoldStatus
from actors.calendar._transaction import in_one_transaction, refusal
from storage.crypto import LEGACY, KeyRing
from storage.db import TenantPool
from storage.scheduling import (
    Appointment,
    AppointmentStatus,
    BookedInterval,
    NewAppointment,
    SchedulingError,
    SlotUnavailable,
    appointment_by_hold,
    appointments_by_holds,
    insert_appointment,
    insert_appointments,
    insert_guest,
    insert_seat,
    patient_by_contact,
    set_details,
)
from storage.sealed import seal_values


def _split(name: str) -> tuple[str, str]:
    first, _, last = name.strip().rpartition(" ")
    return (first.strip(), last) if first.strip() else (last, "-")


async def _guest(
    conn: asyncpg.Connection, org_id: uuid.UUID, contact: m.GuestContact, keys: KeyRing | None
) -> uuid.UUID:
    """The patient this guest already is (matched by e-mail, else phone), or a new guest
    patient: a returning guest keeps one record."""
    first, last = _split(contact.name)
    row_id = uuid.uuid4()  # chosen here: the sealed contact is bound to its row
    contact_of = {"email": contact.email, "phone": contact.phone}
    if keys is not None:
        sealed = seal_values(keys, "patients", row_id, org_id, contact_of)
        known = await patient_by_contact(sealed.get("email_bidx"), sealed.get("phone_bidx"))
        if known is not None:
            return known
    else:
        sealed = {k: None if v is None else LEGACY + v for k, v in contact_of.items()}
        sealed.update(email_bidx=None, phone_bidx=None)
    return await insert_guest(conn, row_id, org_id, first[:100], last[:100], sealed)


def interval_of(appt: Appointment) -> BookedInterval:
    session = appt.group_session_id
    return BookedInterval(
        appt.id, appt.specialist_id, appt.starts_at, appt.ends_at,
        appt.buffer_before_min, appt.buffer_after_min,
        appt.calendar_id if session is not None else None, session,
    )  # fmt: skip


# Work done in the booking's transaction once the appointment exists (a waitlist offer
# accepted is marked booked with it: both or neither).
AfterBooking = Callable[[asyncpg.Connection, Appointment], Awaitable[None]]


Booking = tuple[m.Result, BookedInterval | None]


async def book_hold(
    pool: TenantPool,
    hold: Hold,
    r: m.BookRequest,
    keys: KeyRing | None = None,
    *,
    group: bool = False,
    after: AfterBooking | None = None,
) -> Booking:
    """(answer, the interval now booked or None). A hold already booked answers with the
    appointment it became (a retried request) and books nothing new."""
    return (await book_holds(pool, [(hold, r)], keys, group=group, after=after))[0]


async def book_holds(
    pool: TenantPool,
    batch: Sequence[tuple[Hold, m.BookRequest]],
    keys: KeyRing | None = None,
    *,
    group: bool = False,
    after: AfterBooking | None = None,
) -> list[Booking]:
    """`book_hold` for each (hold, request) of one calendar, in ONE transaction. The bookings
    of known patients (the front desk's) are written together, in a handful of round trips for
    the whole batch, each row refused alone. A guest's, a class seat's, or a booking with work
    after it, runs item by item (actors/calendar/_transaction.py): a refused row rolls back
    alone (a guest patient made for a refused slot is not kept) and its neighbours commit
    together."""

    if not batch:
        return []
    if not group and after is None and all(r.guest is None for _, r in batch):
        together = await _book_together(pool, batch, keys)
        if together is not None:
            return together

    async def run(conn: asyncpg.Connection, item: tuple[Hold, m.BookRequest]) -> Booking:
        return await _book(conn, item[0], item[1], keys, group, after)

    def failed(exc: Exception, _: tuple[Hold, m.BookRequest]) -> Booking:
        return _failed(exc)

    return await in_one_transaction(pool, batch[0][0].organization_id, batch, run, failed)


async def _book_together(
    pool: TenantPool, batch: Sequence[tuple[Hold, m.BookRequest]], keys: KeyRing | None
) -> list[Booking] | None:
    """The batch's bookings of known patients written together (`insert_appointments`); None
    when a room or piece of equipment was taken: that aborts the transaction, and the
    item-by-item path finds which booking it was."""
    first = batch[0][0]
    try:
        async with pool.tenant(first.organization_id, acquire_timeout=5) as conn:
            found = await appointments_by_holds(conn, [hold.id for hold, _ in batch])
            out: list[Booking] = []
            wanted: list[tuple[int, NewAppointment]] = []
            for i, (hold, r) in enumerate(batch):
                done = _already(found.get(hold.id), hold, r)
                if done is None and r.patient_id is not None:
                    new = NewAppointment(
                        r.actor, hold.specialist_id, r.patient_id, hold.start, hold.end,
                        hold_id=hold.id,
                    )  # fmt: skip
                    wanted.append((i, new))
                elif done is None:
                    done = m.invalid("patient_id", "is required"), None
                out.append(done or (m.UNAVAILABLE, None))  # a placeholder until inserted
            answers = await insert_appointments(conn, first.calendar_id, [new for _, new in wanted])
            for (i, new), answer in zip(wanted, answers, strict=True):
                if isinstance(answer, SchedulingError):
                    out[i] = _failed(answer)
                    continue
                if batch[i][1].visit_reason:
                    await _visit_reason(conn, keys, answer, batch[i][1])
                out[i] = m.Booked(answer, answer.id == new.id), interval_of(answer)
            return out
    except SlotUnavailable:  # only the rooms' trigger raises it here
        return None
    except Exception as exc:
        return [_failed(exc)] * len(batch)


def _failed(exc: Exception) -> Booking:
    """A refused or failed booking's answer (re-raises what is not ours)."""
    refused = refusal(exc)
    if refused is not None:
        return refused, None
    if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError | OSError | TimeoutError):
        return m.UNAVAILABLE, None
    raise exc


async def _book(
    conn: asyncpg.Connection,
    hold: Hold,
    r: m.BookRequest,
    keys: KeyRing | None,
    group: bool,
    after: AfterBooking | None,
) -> Booking:
    done = _already(await appointment_by_hold(conn, hold.id), hold, r)
    if done is not None:
        return done
    patient_id = r.patient_id
    terms: GuestTerms | None = None
    if r.guest is not None:
        decided = await guest_terms(conn, hold, r, group)
        if isinstance(decided, m.Failure):
            return decided, None
        terms = decided
        patient_id = await _guest(conn, hold.organization_id, r.guest, keys)
    if patient_id is None:
        return m.invalid("patient_id", "is required"), None
    if group:  # one seat of the class (the database counts the seats too)
        appt = await insert_seat(
            conn, actor=r.actor, calendar_id=hold.calendar_id,
            specialist_id=hold.specialist_id, patient_id=patient_id,
            starts_at=hold.start, hold_id=hold.id,
        )  # fmt: skip
    else:
        status = terms.status if terms is not None else AppointmentStatus.BOOKED
        appt = await insert_appointment(
            conn, hold.calendar_id,
            NewAppointment(
                r.actor, hold.specialist_id, patient_id, hold.start, hold.end,
                hold_id=hold.id, status=status,
            ),
        )  # fmt: skip
    if terms is not None:
        await record_guest_terms(conn, keys, appt, terms, r)
    if after is not None:
        await after(conn, appt)
    if r.visit_reason:
        await _visit_reason(conn, keys, appt, r)
    return m.Booked(appt, True), interval_of(appt)


def _already(found: Appointment | None, hold: Hold, r: m.BookRequest) -> Booking | None:
    """The answer when the hold was booked before (a retried request), else None."""
    if found is None and hold.status is not HoldStatus.BOOKED:
        return None
    if found is None:
        return m.HOLD_EXPIRED, None
    # The caller's patient in the caller's organization, never the patient id alone.
    mine = (
        r.caller.staff
        or r.guest is not None
        or (found.patient_id == r.patient_id and found.organization_id == r.caller.org_id)
    )
    if not mine:
        return m.not_found("hold"), None
    # Still held in our state: an earlier incarnation committed and died before it could
    # record it, so take the appointment into the state now.
    held = hold.status is HoldStatus.HELD
    return m.Booked(found, False), (interval_of(found) if held else None)


async def _visit_reason(
    conn: asyncpg.Connection, keys: KeyRing | None, appt: Appointment, r: m.BookRequest
) -> None:
    await set_details(
        conn, keys, organization_id=appt.organization_id, appointment_id=appt.id,
        patient_id=appt.patient_id, values={"visit_reason": r.visit_reason},
        by=r.actor.user_id,
    )  # fmt: skip
