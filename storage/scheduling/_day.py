"""The staff day views' reads: the active specialists, their weekly hours and the date's
overrides, and their appointments overlapping the day (with the patient's name: a join)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from storage.orm import first, rows
from storage.tables import Organizations, SpecialistHours, SpecialistOverrides, Specialists


@dataclass(frozen=True, slots=True)
class DayRows:
    specialists: list[dict[str, Any]]  # id, name, timezone; by name
    weekly: list[dict[str, Any]]  # specialist_id, weekday, start_min, end_min
    overrides: list[dict[str, Any]]  # specialist_id, hours
    appointments: list[asyncpg.Record]  # with the patient's first_name, last_name


async def organization_zone(org_id: uuid.UUID) -> str | None:
    row = await first(
        Organizations.select(Organizations.timezone).where(Organizations.id == org_id).first()
    )
    return None if row is None else row["timezone"]


async def day_rows(
    conn: asyncpg.Connection,
    day: date,
    start: datetime,
    stop: datetime,
    specialist_ids: list[uuid.UUID] | None,
) -> DayRows:
    """The active specialists (all, or these) and what their day [start, stop) holds."""
    alive: Any = Specialists.deleted_at.is_null() & (Specialists.active == True)  # noqa: E712
    if specialist_ids is not None:
        if not specialist_ids:
            return DayRows([], [], [], [])
        alive &= Specialists.id.is_in(specialist_ids)
    specialists = await rows(
        Specialists.select(Specialists.id, Specialists.name, Specialists.timezone)
        .where(alive)
        .order_by(Specialists.name, Specialists.id)
    )
    ids = [s["id"] for s in specialists]
    if not ids:
        return DayRows([], [], [], [])
    weekly = await rows(
        SpecialistHours.select(
            SpecialistHours.specialist_id,
            SpecialistHours.weekday,
            SpecialistHours.start_min,
            SpecialistHours.end_min,
        )  # fmt: skip
        .where(SpecialistHours.specialist_id.is_in(ids))
        .order_by(SpecialistHours.start_min)
    )
    overrides = await rows(
        SpecialistOverrides.select(SpecialistOverrides.specialist_id, SpecialistOverrides.hours)
        .where(SpecialistOverrides.specialist_id.is_in(ids) & (SpecialistOverrides.date == day))
    )  # fmt: skip
    appointments = await conn.fetch(
        """SELECT a.id, a.specialist_id, a.status, a.starts_at, a.ends_at, a.calendar_id,
                  a.patient_id, p.first_name, p.last_name, room.id AS room_id,
                  room.name AS room_name
           FROM appointments a JOIN patients p ON p.id = a.patient_id
           -- The room it reserved (a cancelled one keeps the name of the room it had).
           LEFT JOIN LATERAL (
             SELECT r.id, r.name FROM appointment_resources ar JOIN rooms r ON r.id = ar.room_id
             WHERE ar.appointment_id = a.id AND ar.room_id IS NOT NULL
             ORDER BY ar.live DESC LIMIT 1) room ON true
           WHERE a.specialist_id = ANY($1::uuid[]) AND a.starts_at < $3 AND a.ends_at > $2
           ORDER BY a.starts_at, a.id""",
        ids, start, stop,
    )  # fmt: skip
    return DayRows(specialists, weekly, overrides, list(appointments))
