"""What the channel policy reads about a calendar before any organization is known."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class CalendarVisibility:
    organization_id: uuid.UUID
    public: bool


async def calendar_visibility(
    conn: asyncpg.Connection, calendar_id: uuid.UUID
) -> CalendarVisibility | None:
    """The organization of a calendar that is not deleted, and whether it is public; None for an
    unknown or deleted calendar. A SECURITY DEFINER function: it answers in any transaction,
    anonymous included, and tells nothing else about the calendar."""
    record = await conn.fetchrow(
        "SELECT organization_id, public FROM calendar_visibility($1)", calendar_id
    )
    if record is None:
        return None
    return CalendarVisibility(record["organization_id"], record["public"])
