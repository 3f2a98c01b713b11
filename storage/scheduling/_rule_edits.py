"""The rules of availability as the REST catalog shows and edits them: specialists' weekly hours,
date overrides and profiles (active, time zone), services (duration, buffers, active), calendar
settings and members.

The writes run in the tenant transaction of the calendar shard owning the organization
(actors/calendar/_rules.py), so the shard's live slots follow an edit in the same batch; reads
run wherever a tenant transaction is bound. Piccolo for the plain reads and writes; raw SQL
where Postgres does the work (ON CONFLICT upserts, the row lock, the JSON aggregate of a
calendar's members).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from storage.orm import first, rows
from storage.scheduling._catalog import Row, delete_row, get_row, update_row
from storage.scheduling._errors import InvalidReference, NotFound
from storage.tables import (
    Calendars,
    CalendarSpecialists,
    Services,
    SpecialistHours,
    SpecialistOverrides,
    Specialists,
    SpecialistSpecialties,
    Specialties,
)

WeeklyRow = Mapping[str, Any]  # {"weekday", "start_min", "end_min"[, "location_id"]}


@dataclass(frozen=True, slots=True)
class Member:
    """A specialist of a calendar as an edit names it."""

    specialist_id: uuid.UUID
    priority: int = 0
    hours: tuple[WeeklyRow, ...] | None = None  # None: the specialist's own hours


# --- specialists ------------------------------------------------------------------------------

# What the API shows of a specialist: its row and the sorted ids of its specialties.
SPECIALIST_SELECT = (
    "t.*, array(SELECT ss.specialty_id FROM specialist_specialties ss"
    " WHERE ss.specialist_id = t.id ORDER BY ss.specialty_id) AS specialty_ids"
)


async def specialist_view(conn: asyncpg.Connection, specialist_id: uuid.UUID) -> Row | None:
    """The specialist as the API shows it (SPECIALIST_SELECT), None for a missing or deleted one."""
    row = await conn.fetchrow(
        f"SELECT {SPECIALIST_SELECT} FROM specialists t WHERE t.id = $1 AND t.deleted_at IS NULL",
        specialist_id,
    )
    return None if row is None else dict(row.items())


async def edit_specialist(
    conn: asyncpg.Connection,
    org_id: uuid.UUID,
    specialist_id: uuid.UUID,
    values: Mapping[str, Any],
    specialty_ids: Sequence[uuid.UUID] | None,
) -> tuple[Row, Row]:
    """Change a specialist's profile (column values) and, unless None, its specialties;
    (before, after) as `specialist_view` shows them. NotFound for no such specialist."""
    await lock_specialist(specialist_id)
    before = await specialist_view(conn, specialist_id)
    assert before is not None  # locked, and not deleted
    if values:
        await update_row(Specialists, specialist_id, values)
    if specialty_ids is not None:
        await link_specialties(org_id, specialist_id, specialty_ids)
    after = await specialist_view(conn, specialist_id)
    assert after is not None
    return before, after


async def delete_specialist(specialist_id: uuid.UUID) -> Row:
    """Soft-delete a specialist (it leaves every calendar's slots); the row as it was deleted,
    NotFound for a missing or deleted one."""
    gone = await delete_row(Specialists, specialist_id)
    if gone is None:
        raise NotFound("specialist")
    return gone


async def link_specialties(
    org_id: uuid.UUID, specialist_id: uuid.UUID, specialty_ids: Sequence[uuid.UUID]
) -> None:
    """Replace the specialist's specialties; InvalidReference for an unknown one."""
    ids = list(dict.fromkeys(specialty_ids))
    if ids and await Specialties.count().where(Specialties.id.is_in(ids)) != len(ids):
        raise InvalidReference("specialty_ids", "names a specialty that does not exist")
    await SpecialistSpecialties.delete().where(SpecialistSpecialties.specialist_id == specialist_id)
    if ids:
        await SpecialistSpecialties.insert(
            *(
                SpecialistSpecialties(
                    organization_id=org_id, specialist_id=specialist_id, specialty_id=s
                )
                for s in ids
            )
        )


async def specialist_exists(specialist_id: uuid.UUID) -> bool:
    found: bool = await Specialists.exists().where(
        (Specialists.id == specialist_id) & Specialists.deleted_at.is_null()
    )
    return found


async def lock_specialist(specialist_id: uuid.UUID) -> None:
    """Lock the specialist's row for a rule edit; NotFound for a missing or deleted one."""
    found = await rows(
        Specialists.select(Specialists.id)
        .where((Specialists.id == specialist_id) & Specialists.deleted_at.is_null())
        .lock_rows()
    )
    if not found:
        raise NotFound("specialist")


async def specialist_zone(specialist_id: uuid.UUID) -> str | None:
    row = await first(
        Specialists.select(Specialists.timezone)
        .where((Specialists.id == specialist_id) & Specialists.deleted_at.is_null())
        .first()
    )
    return None if row is None else str(row["timezone"])


async def weekly_hours(specialist_id: uuid.UUID) -> list[dict[str, Any]]:
    """The specialist's week as {"weekday", "start_min", "end_min", "location_id"} (the
    location's id as text, as the audit row keeps it, or None), by weekday and start."""
    week = await rows(
        SpecialistHours.select(
            SpecialistHours.weekday,
            SpecialistHours.start_min,
            SpecialistHours.end_min,
            SpecialistHours.location_id,
        )
        .where(SpecialistHours.specialist_id == specialist_id)
        .order_by(SpecialistHours.weekday, SpecialistHours.start_min)
    )
    for r in week:
        r["location_id"] = None if r["location_id"] is None else str(r["location_id"])
    return week


async def replace_weekly_hours(
    org_id: uuid.UUID, specialist_id: uuid.UUID, week: Sequence[WeeklyRow]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Replace the specialist's whole week; (before, after). NotFound for no such specialist."""
    await lock_specialist(specialist_id)
    before = await weekly_hours(specialist_id)
    await SpecialistHours.delete().where(SpecialistHours.specialist_id == specialist_id)
    if week:
        await SpecialistHours.insert(
            *(
                SpecialistHours(
                    organization_id=org_id,
                    specialist_id=specialist_id,
                    weekday=r["weekday"],
                    start_min=r["start_min"],
                    end_min=r["end_min"],
                    location_id=r.get("location_id"),
                )  # fmt: skip
                for r in week
            )
        )
    return before, await weekly_hours(specialist_id)


async def overrides(
    specialist_id: uuid.UUID, first_day: date | None, last_day: date | None, limit: int = 1000
) -> list[dict[str, Any]]:
    """The specialist's date overrides ({"date", "hours"}) in [first_day, last_day], by date."""
    where: Any = SpecialistOverrides.specialist_id == specialist_id
    if first_day is not None:
        where &= SpecialistOverrides.date >= first_day
    if last_day is not None:
        where &= SpecialistOverrides.date <= last_day
    return await rows(
        SpecialistOverrides.select(SpecialistOverrides.date, SpecialistOverrides.hours)
        .where(where)
        .order_by(SpecialistOverrides.date)
        .limit(limit)
    )


def _override_of(specialist_id: uuid.UUID, day: date) -> Any:
    return (SpecialistOverrides.specialist_id == specialist_id) & (SpecialistOverrides.date == day)


async def set_override(
    conn: asyncpg.Connection,
    org_id: uuid.UUID,
    specialist_id: uuid.UUID,
    day: date,
    spans: Sequence[Sequence[int]],
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Set the hours of one date (replacing an earlier override of it; [] = day off);
    (before, after). NotFound for no such specialist."""
    await lock_specialist(specialist_id)
    before = await first(
        SpecialistOverrides.select(SpecialistOverrides.date, SpecialistOverrides.hours)
        .where(_override_of(specialist_id, day))
        .first()
    )
    row = await conn.fetchrow(
        """INSERT INTO specialist_overrides (organization_id, specialist_id, date, hours)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (organization_id, specialist_id, date)
           DO UPDATE SET hours = EXCLUDED.hours
           RETURNING date, hours""",
        org_id, specialist_id, day, [list(s) for s in spans],
    )  # fmt: skip
    return before, dict(row.items())


async def delete_override(specialist_id: uuid.UUID, day: date) -> dict[str, Any]:
    """Remove the override of one date; the removed row, NotFound ("override") for none."""
    gone = await rows(
        SpecialistOverrides.delete()
        .where(_override_of(specialist_id, day))
        .returning(SpecialistOverrides.date, SpecialistOverrides.hours)
    )
    if not gone:
        raise NotFound("override")
    return gone[0]


async def calendars_of_specialist(specialist_id: uuid.UUID) -> list[uuid.UUID]:
    found = await rows(
        CalendarSpecialists.select(CalendarSpecialists.calendar_id).where(
            CalendarSpecialists.specialist_id == specialist_id
        )
    )
    return [r["calendar_id"] for r in found]


# --- services ---------------------------------------------------------------------------------


async def edit_service(service_id: uuid.UUID, values: Mapping[str, Any]) -> tuple[Row, Row]:
    """Change a service's columns (its duration and buffers shape its calendars' slots);
    (before, after) rows. NotFound for no such service."""
    before = await get_row(Services, service_id, lock=True)
    if before is None:
        raise NotFound("service")
    after = await update_row(Services, service_id, values) if values else before
    assert after is not None  # locked, and not deleted
    return before, after


async def delete_service(service_id: uuid.UUID) -> Row:
    """Soft-delete a service (its calendars stop listing slots); the row as it was deleted,
    NotFound for a missing or deleted one."""
    gone = await delete_row(Services, service_id)
    if gone is None:
        raise NotFound("service")
    return gone


# --- calendars --------------------------------------------------------------------------------

# What the API shows of a calendar: its row and its members, by priority.
CALENDAR_SELECT = (
    "t.*, COALESCE((SELECT jsonb_agg(jsonb_build_object('id', cs.specialist_id, 'priority',"
    " cs.priority, 'hours', cs.hours) ORDER BY cs.priority, cs.specialist_id)"
    " FROM calendar_specialists cs WHERE cs.calendar_id = t.id), '[]'::jsonb) AS members"
)


async def calendar_view(conn: asyncpg.Connection, calendar_id: uuid.UUID) -> dict[str, Any] | None:
    """The calendar as the API shows it (CALENDAR_SELECT), None for a missing or deleted one."""
    row = await conn.fetchrow(
        f"SELECT {CALENDAR_SELECT} FROM calendars t WHERE t.id = $1 AND t.deleted_at IS NULL",
        calendar_id,
    )
    return None if row is None else dict(row.items())


async def calendar_zone(calendar_id: uuid.UUID) -> str | None:
    row = await first(
        Calendars.select(Calendars.timezone)
        .where((Calendars.id == calendar_id) & Calendars.deleted_at.is_null())
        .first()
    )
    return None if row is None else str(row["timezone"])


async def service_duration(service_id: uuid.UUID) -> int | None:
    """The duration of a service that is not deleted (a calendar's default slot interval)."""
    row = await first(
        Services.select(Services.duration_min)
        .where((Services.id == service_id) & Services.deleted_at.is_null())
        .first()
    )
    return None if row is None else int(row["duration_min"])


async def set_calendar_members(
    conn: asyncpg.Connection, org_id: uuid.UUID, calendar_id: uuid.UUID, members: Sequence[Member]
) -> None:
    """Replace the calendar's specialists; those who stay keep their round-robin count. For a
    calendar being created (no shard has it yet); later edits go through `edit_calendar`."""
    ids = [m.specialist_id for m in members]
    if len(set(ids)) != len(ids):
        raise InvalidReference("specialists", "lists a specialist twice")
    if ids:
        found = await Specialists.count().where(
            Specialists.id.is_in(ids) & Specialists.deleted_at.is_null()
        )
        if found != len(ids):
            raise InvalidReference("specialists", "names a specialist that does not exist")
    gone: Any = CalendarSpecialists.calendar_id == calendar_id
    if ids:
        gone &= CalendarSpecialists.specialist_id.not_in(ids)
    await CalendarSpecialists.delete().where(gone)
    await conn.executemany(
        """INSERT INTO calendar_specialists (organization_id, calendar_id, specialist_id,
             priority, hours) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (organization_id, calendar_id, specialist_id)
           DO UPDATE SET priority = EXCLUDED.priority, hours = EXCLUDED.hours""",
        [(org_id, calendar_id, m.specialist_id, m.priority,
          None if m.hours is None else [dict(h) for h in m.hours]) for m in members],
    )  # fmt: skip


async def edit_calendar(
    conn: asyncpg.Connection,
    org_id: uuid.UUID,
    calendar_id: uuid.UUID,
    values: Mapping[str, Any],
    members: Sequence[Member] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Change a calendar's settings (column values) and, unless None, its members;
    (before, after) as `calendar_view` shows them. NotFound for no such calendar."""
    locked = await rows(
        Calendars.select(Calendars.id)
        .where((Calendars.id == calendar_id) & Calendars.deleted_at.is_null())
        .lock_rows()
    )
    before = await calendar_view(conn, calendar_id)
    if not locked or before is None:
        raise NotFound("calendar")
    if values:
        changes: dict[Any, Any] = {getattr(Calendars, k): v for k, v in values.items()}
        changes[Calendars.updated_at] = _now()
        await Calendars.update(changes).where(Calendars.id == calendar_id)
    if members is not None:
        await set_calendar_members(conn, org_id, calendar_id, members)
    after = await calendar_view(conn, calendar_id)
    assert after is not None
    return before, after


async def delete_calendar(calendar_id: uuid.UUID) -> dict[str, Any]:
    """Soft-delete a calendar (it stops taking holds and bookings); the row as it was deleted,
    NotFound for a missing or deleted one."""
    now = _now()
    gone = await rows(
        Calendars.update(
            {Calendars.deleted_at: now, Calendars.updated_at: now, Calendars.active: False}
        )
        .where((Calendars.id == calendar_id) & Calendars.deleted_at.is_null())
        .returning(*Calendars.all_columns())
    )
    if not gone:
        raise NotFound("calendar")
    return gone[0]


def _now() -> datetime:
    return datetime.now(UTC)
