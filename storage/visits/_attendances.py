"""Attendances of a visit's room: one row per join of the patient or the specialist, closed
when they leave or join again (one open attendance per role; the database enforces it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import asyncpg

from storage.orm import rows
from storage.tables import VisitAttendances

_COLUMNS = "id, role, joined_at, left_at, left_reason"
# A record lists at most this many joins; a visit with more is an abuse, not a visit.
MAX_ATTENDANCES = 200


class VisitParty(StrEnum):
    """The two people a visit's room is for."""

    PATIENT = "patient"
    SPECIALIST = "specialist"

    @property
    def other(self) -> VisitParty:
        return VisitParty.SPECIALIST if self is VisitParty.PATIENT else VisitParty.PATIENT


@dataclass(frozen=True, slots=True)
class VirtualAppointment:
    id: uuid.UUID
    organization_id: uuid.UUID
    patient_id: uuid.UUID
    specialist_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    virtual: bool


@dataclass(frozen=True, slots=True)
class Attendance:
    id: uuid.UUID
    role: VisitParty
    joined_at: datetime
    left_at: datetime | None
    left_reason: str | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> Attendance:
        return cls(
            row["id"], VisitParty(row["role"]), row["joined_at"], row["left_at"],
            row["left_reason"],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class VisitRecord:
    """The attendances (oldest first) and the time both parties were in the room together."""

    attendances: list[Attendance]
    together_s: float
    first_together_at: datetime | None
    last_together_at: datetime | None


async def virtual_appointment(
    conn: asyncpg.Connection, appointment_id: uuid.UUID
) -> VirtualAppointment | None:
    """The appointment with whether its service is virtual; None when unknown (or another
    organization's: row-level security hides it)."""
    row = await conn.fetchrow(
        """SELECT a.id, a.organization_id, a.patient_id, a.specialist_id, a.starts_at,
                  a.ends_at, a.status, s.modality = 'virtual' AS virtual
             FROM appointments a
             JOIN services s ON s.organization_id = a.organization_id AND s.id = a.service_id
            WHERE a.id = $1""",
        appointment_id,
    )
    if row is None:
        return None
    return VirtualAppointment(**dict(row.items()))


async def join(
    conn: asyncpg.Connection,
    org: uuid.UUID,
    appointment_id: uuid.UUID,
    role: VisitParty,
    user_id: uuid.UUID | None,
) -> tuple[Attendance, uuid.UUID | None]:
    """Open an attendance of `role` (closing its previous one as `rejoined`: the same person on
    a new device or after a reload). Returns it and the other party's open attendance, if any.
    Instants are the database's clock (`clock_timestamp()`), so durations never mix clocks."""
    await conn.execute(
        """UPDATE visit_attendances SET left_at = clock_timestamp(), left_reason = 'rejoined'
            WHERE appointment_id = $1 AND role = $2 AND left_at IS NULL""",
        appointment_id,
        role.value,
    )
    created = await conn.fetchrow(
        f"""INSERT INTO visit_attendances (organization_id, appointment_id, role, user_id)
            VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}""",
        org,
        appointment_id,
        role.value,
        user_id,
    )
    assert created is not None
    other: uuid.UUID | None = await conn.fetchval(
        """SELECT id FROM visit_attendances
            WHERE appointment_id = $1 AND role = $2 AND left_at IS NULL""",
        appointment_id,
        role.other.value,
    )
    return Attendance.of(dict(created.items())), other


async def leave(conn: asyncpg.Connection, attendance_id: uuid.UUID, reason: str = "left") -> bool:
    """Close the attendance (`left` or `disconnected`); False when it was closed already (by a
    join of the same party elsewhere, say)."""
    closed = await conn.fetchval(
        """UPDATE visit_attendances SET left_at = clock_timestamp(), left_reason = $2
            WHERE id = $1 AND left_at IS NULL RETURNING id""",
        attendance_id,
        reason,
    )
    return closed is not None


async def record(
    conn: asyncpg.Connection, appointment_id: uuid.UUID, until: datetime
) -> VisitRecord:
    """The visit's record as of now (the database's clock): open attendances count until now or
    `until` (the room's closing), whichever is first; a server that died leaves one open."""
    t = VisitAttendances
    found = await rows(
        t.select(*t.all_columns())
        .where(t.appointment_id == appointment_id)
        .order_by(t.joined_at)
        .limit(MAX_ATTENDANCES)
    )
    now: datetime = min(await conn.fetchval("SELECT clock_timestamp()"), until)
    attendances = [Attendance.of(r) for r in found]
    seconds, first, last = together(attendances, now)
    return VisitRecord(attendances, seconds, first, last)


def together(
    attendances: Sequence[Attendance], now: datetime
) -> tuple[float, datetime | None, datetime | None]:
    """Seconds both parties were in the room, and the first and last instant of that. One
    party's attendances never overlap each other (one open per role), so the pairwise overlaps
    of the patient's and the specialist's attendances add up without double counting."""
    patient = [a for a in attendances if a.role is VisitParty.PATIENT]
    specialist = [a for a in attendances if a.role is VisitParty.SPECIALIST]
    total = 0.0
    first: datetime | None = None
    last: datetime | None = None
    for p in patient:
        for s in specialist:
            start = max(p.joined_at, s.joined_at)
            end = min(p.left_at or now, s.left_at or now)
            if end <= start:
                continue
            total += (end - start).total_seconds()
            first = start if first is None else min(first, start)
            last = end if last is None else max(last, end)
    return total, first, last
