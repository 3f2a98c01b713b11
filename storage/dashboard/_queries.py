"""What the dashboard reads of an organization's day (inside `Database.tenant(org)`), and which
organizations have a day to re-evaluate (on `Database.platform()`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from storage.orm import first, rows
from storage.tables import Appointments, Organizations

# Statuses still waiting for the patient to arrive: what "late" and "unconfirmed" look at.
AWAITED = ("booked", "confirmed")


@dataclass(frozen=True, slots=True)
class DayCounts:
    appointments: int  # starting in the day, cancelled ones excluded
    arrived: int  # checked in, in progress or completed
    waiting: int  # checked in, not yet started
    no_shows: int


@dataclass(frozen=True, slots=True)
class OpenAppointment:
    """An appointment of the day whose patient has not arrived yet."""

    id: uuid.UUID
    patient_id: uuid.UUID
    specialist_id: uuid.UUID
    calendar_id: uuid.UUID
    status: str
    starts_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FailedNotification:
    """A message to a patient the notifications outbox gave up on."""

    id: uuid.UUID
    kind: str
    patient_id: uuid.UUID
    appointment_id: uuid.UUID | None
    finished_at: datetime


async def clinic_timezone(org_id: uuid.UUID) -> str:
    row = await first(
        Organizations.select(Organizations.timezone).where(Organizations.id == org_id).first()
    )
    return "UTC" if row is None else str(row["timezone"])


async def day_counts(conn: asyncpg.Connection, start: datetime, end: datetime) -> DayCounts:
    """The organization's appointments starting in [start, end), counted by where they stand."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status <> 'cancelled') AS appointments,
                  count(*) FILTER (WHERE status IN ('checked_in', 'in_progress', 'completed'))
                    AS arrived,
                  count(*) FILTER (WHERE status = 'checked_in') AS waiting,
                  count(*) FILTER (WHERE status = 'no_show') AS no_shows
             FROM appointments
            WHERE starts_at >= $1 AND starts_at < $2""",
        start,
        end,
    )
    assert row is not None  # an aggregate always answers one row
    return DayCounts(row["appointments"], row["arrived"], row["waiting"], row["no_shows"])


async def follow_ups_due(conn: asyncpg.Connection, day: date) -> int:
    """Pending follow-ups due on or before the clinic's `day` (the front desk has to book them),
    of patients not deleted (what the queue, GET /v1/follow-ups, lists)."""
    found: int = await conn.fetchval(
        """SELECT count(*) FROM follow_ups f
            WHERE f.state = 'pending' AND f.due_on <= $1
              AND EXISTS (SELECT 1 FROM patients p
                           WHERE p.organization_id = f.organization_id AND p.id = f.patient_id
                             AND p.deleted_at IS NULL)""",
        day,
    )
    return found


async def open_appointments(start: datetime, end: datetime, limit: int) -> list[OpenAppointment]:
    """Up to `limit` appointments starting in [start, end) whose patient is still awaited,
    earliest first."""
    found = await rows(
        Appointments.select(
            Appointments.id,
            Appointments.patient_id,
            Appointments.specialist_id,
            Appointments.calendar_id,
            Appointments.status,
            Appointments.starts_at,
            Appointments.created_at,
        )
        .where(
            (Appointments.starts_at >= start)
            & (Appointments.starts_at < end)
            & Appointments.status.is_in(list(AWAITED))
        )
        .order_by(Appointments.starts_at, Appointments.id)
        .limit(limit)
    )
    return [OpenAppointment(**r) for r in found]


async def failed_notifications(
    conn: asyncpg.Connection, start: datetime, end: datetime, limit: int
) -> list[FailedNotification]:
    """Up to `limit` notifications that failed in [start, end), oldest first."""
    found = await conn.fetch(
        """SELECT id, kind, patient_id, appointment_id, finished_at
             FROM notification_outbox
            WHERE status = 'failed' AND finished_at >= $1 AND finished_at < $2
            ORDER BY finished_at, id
            LIMIT $3""",
        start,
        end,
        limit,
    )
    return [FailedNotification(**dict(r.items())) for r in found]


async def organizations_with_appointments(
    conn: asyncpg.Connection,
    start: datetime,
    end: datetime,
    after: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """Organizations (after `after`, in id order) with an appointment starting, or a
    notification failing, in [start, end): those whose dashboard day may change with time. Runs
    on the platform connection."""
    found = await conn.fetch(
        """SELECT organization_id FROM appointments
            WHERE starts_at >= $1 AND starts_at < $2
              AND ($3::uuid IS NULL OR organization_id > $3)
           UNION
           SELECT organization_id FROM notification_outbox
            WHERE status = 'failed' AND finished_at >= $1 AND finished_at < $2
              AND ($3::uuid IS NULL OR organization_id > $3)
           ORDER BY organization_id
           LIMIT $4""",
        start,
        end,
        after,
        limit,
    )
    return [r["organization_id"] for r in found]
