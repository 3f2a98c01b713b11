"""Group sessions (a class of N seats): a participant is an appointment that shares its
session's row with the other participants. The database has the last word on seats: a trigger
counts the live participants under CHECK seats_taken <= capacity (migration
m2026_12_05t04_00_00), so a booking past the last seat is refused here whatever the calendar
shard believed. Runs on the caller's tenant transaction."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from storage import audit
from storage.scheduling._appointments import (
    Appointment,
    NewAppointment,
    appointment_by_hold,
    insert_appointment,
)
from storage.scheduling._errors import InvalidReference, NotFound, SlotUnavailable

# Raw SQL: an upsert that returns the session row whether it was created or found (ON CONFLICT).
_SESSION = """
INSERT INTO group_sessions (organization_id, calendar_id, service_id, specialist_id, starts_at,
                            ends_at, capacity)
SELECT c.organization_id, c.id, s.id, $2::uuid, $3::timestamptz,
       $3::timestamptz + make_interval(mins => s.duration_min),
       s.capacity
FROM calendars c JOIN services s ON s.id = c.service_id
WHERE c.id = $1 AND c.deleted_at IS NULL
ON CONFLICT (organization_id, calendar_id, specialist_id, starts_at)
DO UPDATE SET capacity = group_sessions.capacity
RETURNING id, ends_at
"""


async def insert_seat(
    conn: asyncpg.Connection,
    *,
    actor: audit.AuditActor,
    calendar_id: uuid.UUID,
    specialist_id: uuid.UUID,
    patient_id: uuid.UUID,
    starts_at: datetime,
    hold_id: uuid.UUID,
) -> Appointment:
    """Book one seat of the class at `starts_at` (its session is created by the first seat).
    Idempotent per hold, as `insert_appointment`. SlotUnavailable when the class is full."""
    existing = await appointment_by_hold(conn, hold_id)
    if existing is not None:
        return existing
    session = await conn.fetchrow(_SESSION, calendar_id, specialist_id, starts_at)
    if session is None:
        raise NotFound("calendar")
    try:
        async with conn.transaction():
            return await insert_appointment(
                conn, calendar_id,
                NewAppointment(
                    actor, specialist_id, patient_id, starts_at, session["ends_at"],
                    hold_id=hold_id, group_session_id=session["id"],
                ),
            )  # fmt: skip
    except asyncpg.CheckViolationError:
        raise SlotUnavailable("the class is full", [{"reason": "full"}]) from None


async def set_session_capacity(
    conn: asyncpg.Connection, service_id: uuid.UUID, capacity: int
) -> None:
    """A service's new capacity for its sessions still to come; InvalidReference when one of
    them has more seats booked (the CHECK refuses it)."""
    try:
        async with conn.transaction():
            await conn.execute(
                """UPDATE group_sessions SET capacity = $2
                   WHERE service_id = $1 AND starts_at > now()""",
                service_id,
                capacity,
            )
    except asyncpg.CheckViolationError:
        raise InvalidReference(
            "capacity", "is below the seats already booked in a coming session"
        ) from None


# Raw SQL: the roster joins participants with their patients' names.
_ROSTER = """
SELECT a.id AS appointment_id, a.patient_id, a.status, p.first_name, p.last_name
FROM appointments a JOIN patients p ON p.id = a.patient_id
WHERE a.group_session_id = $1
ORDER BY a.created_at, a.id
"""


async def group_session(conn: asyncpg.Connection, session_id: uuid.UUID) -> dict[str, Any]:
    """The session and its participants with their attendance; NotFound for none."""
    row = await conn.fetchrow(
        """SELECT id, calendar_id, service_id, specialist_id, starts_at, ends_at, capacity,
                  seats_taken FROM group_sessions WHERE id = $1""",
        session_id,
    )
    if row is None:
        raise NotFound("group session")
    people = await conn.fetch(_ROSTER, session_id)
    return {**dict(row.items()), "participants": [dict(p.items()) for p in people]}
