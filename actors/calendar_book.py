"""Turning a live hold into an appointment in Postgres (the shard calls this under the
calendar's lock, so its state never lags the database). The exclusion constraint has the last
word: a refused insert is a 409 and the shard reloads the calendar."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

from actors import calendar_messages as m
from actors.calendar_state import Hold, HoldStatus
from storage.scheduling import (
    Appointment,
    BookedInterval,
    InvalidReference,
    NotFound,
    SlotUnavailable,
    insert_appointment,
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _split(name: str) -> tuple[str, str]:
    first, _, last = name.strip().rpartition(" ")
    return (first.strip(), last) if first.strip() else (last, "-")


async def _guest(conn: asyncpg.Connection, org_id: uuid.UUID, contact: m.GuestContact) -> Any:
    first, last = _split(contact.name)
    return await conn.fetchval(
        """INSERT INTO patients (organization_id, first_name, last_name, email, phone, guest)
           VALUES ($1, $2, $3, $4, $5, true) RETURNING id""",
        org_id, first[:100], last[:100], contact.email, contact.phone,
    )  # fmt: skip


def _interval(appt: Appointment) -> BookedInterval:
    return BookedInterval(
        appt.id, appt.specialist_id, appt.starts_at, appt.ends_at,
        appt.buffer_before_min, appt.buffer_after_min,
    )  # fmt: skip


async def book_hold(
    pool: asyncpg.Pool, hold: Hold, r: m.BookRequest
) -> tuple[m.Result, BookedInterval | None]:
    """(answer, the interval now booked or None). A hold already booked answers with the
    appointment it became (a retried request) and books nothing new."""
    try:
        async with pool.acquire(timeout=5) as conn, conn.transaction():
            org = str(hold.organization_id)
            await conn.execute("SELECT set_config('app.org_id', $1, true)", org)
            row = await conn.fetchrow("SELECT * FROM appointments WHERE hold_id = $1", hold.id)
            if row is not None or hold.status is HoldStatus.BOOKED:
                if row is None:
                    return m.HOLD_EXPIRED, None
                found = Appointment.from_row(row)
                mine = r.caller.staff or r.guest is not None or found.patient_id == r.patient_id
                if not mine:
                    return m.not_found("hold"), None
                # Still held in our state: an earlier incarnation committed and died before it
                # could record it, so take the appointment into the state now.
                held = hold.status is HoldStatus.HELD
                return m.Booked(found, False), (_interval(found) if held else None)
            patient_id = r.patient_id
            if r.guest is not None:
                patient_id = await _guest(conn, hold.organization_id, r.guest)
            if patient_id is None:
                return m.invalid("patient_id", "is required"), None
            appt = await insert_appointment(
                conn, actor=r.actor, calendar_id=hold.calendar_id,
                specialist_id=hold.specialist_id, patient_id=patient_id, starts_at=hold.start,
                ends_at=hold.end, hold_id=hold.id,
            )  # fmt: skip
    except SlotUnavailable as exc:
        return m.slot_unavailable(str(exc), {"conflicts": _plain(exc.conflicts)}), None
    except InvalidReference as exc:
        return m.invalid(exc.field, exc.message), None
    except NotFound as exc:
        return m.not_found(exc.entity), None
    except (asyncpg.PostgresError, OSError, TimeoutError):
        return m.UNAVAILABLE, None
    return m.Booked(appt, True), _interval(appt)
