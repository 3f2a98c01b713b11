"""SQL for the scheduling catalog (specialties, specialists, services, calendars, patients).

Table and column names here come from this module's own constants, never from request input;
every value is a bind parameter. All functions run on a tenant connection (RLS scoped).
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from server.errors import validation_failed
from server.scheduling._web import Page, cursor_key

SOFT_DELETED = frozenset({"specialists", "services", "calendars", "patients"})


@lru_cache(maxsize=1024)
def _zone_exists(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check_timezone(name: str, field: str = "timezone") -> str:
    if not _zone_exists(name):
        raise validation_failed({field: "is not a known IANA time zone"})
    return name


def minutes(text: str) -> int:
    hours, _, mins = text.partition(":")
    return int(hours) * 60 + int(mins)


def hhmm(value: int) -> str:
    return f"{value // 60:02d}:{value % 60:02d}"


def weekly_rows(hours: Iterable[Mapping[str, Any]], field: str) -> list[dict[str, int]]:
    """Validated weekly intervals as {"weekday", "start_min", "end_min"}, sorted; 422 for an
    interval that ends before it starts or overlaps another of the same weekday."""
    rows = sorted(
        (
            {
                "weekday": int(h["weekday"]),
                "start_min": minutes(h["start"]),
                "end_min": minutes(h["end"]),
            }
            for h in hours
        ),
        key=lambda r: (r["weekday"], r["start_min"]),
    )
    for i, row in enumerate(rows):
        if row["end_min"] <= row["start_min"]:
            raise validation_failed({field: "each interval must end after it starts"})
        prev = rows[i - 1] if i else None
        if prev and prev["weekday"] == row["weekday"] and prev["end_min"] > row["start_min"]:
            raise validation_failed({field: f"intervals overlap on weekday {row['weekday']}"})
    return rows


def day_ranges(hours: Iterable[Mapping[str, Any]], field: str = "hours") -> list[list[int]]:
    spans = sorted([minutes(h["start"]), minutes(h["end"])] for h in hours)
    for i, (start, end) in enumerate(spans):
        if end <= start:
            raise validation_failed({field: "each interval must end after it starts"})
        if i and spans[i - 1][1] > start:
            raise validation_failed({field: "intervals overlap"})
    return spans


def render_weekly(rows: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    if rows is None:
        return None
    return [
        {"weekday": r["weekday"], "start": hhmm(r["start_min"]), "end": hhmm(r["end_min"])}
        for r in rows
    ]


# --- generic rows --------------------------------------------------------------------------


def _alive(table: str) -> str:
    return " AND deleted_at IS NULL" if table in SOFT_DELETED else ""


async def get_row(
    conn: asyncpg.Connection, table: str, row_id: uuid.UUID, *, lock: bool = False
) -> asyncpg.Record | None:
    suffix = " FOR UPDATE" if lock else ""
    return await conn.fetchrow(
        f"SELECT * FROM {table} WHERE id = $1{_alive(table)}{suffix}", row_id
    )


async def insert_row(
    conn: asyncpg.Connection, table: str, values: Mapping[str, Any]
) -> asyncpg.Record:
    names = list(values)
    marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    row = await conn.fetchrow(
        f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks}) RETURNING *",
        *values.values(),
    )
    assert row is not None
    return row


async def update_row(
    conn: asyncpg.Connection, table: str, row_id: uuid.UUID, values: Mapping[str, Any]
) -> asyncpg.Record | None:
    names = list(values)
    sets = ", ".join(f"{n} = ${i}" for i, n in enumerate(names, start=2))
    return await conn.fetchrow(
        f"UPDATE {table} SET {sets}, updated_at = now() WHERE id = $1{_alive(table)} RETURNING *",
        row_id,
        *values.values(),
    )


async def soft_delete(
    conn: asyncpg.Connection, table: str, row_id: uuid.UUID
) -> asyncpg.Record | None:
    active = ", active = false" if table != "patients" else ""
    return await conn.fetchrow(
        f"""UPDATE {table} SET deleted_at = now(), updated_at = now(){active}
            WHERE id = $1 AND deleted_at IS NULL RETURNING *""",
        row_id,
    )


async def list_rows(
    conn: asyncpg.Connection,
    table: str,
    page: Page,
    *,
    select: str = "*",
    where: str = "TRUE",
    args: Sequence[Any] = (),
) -> list[asyncpg.Record]:
    """One page in creation order (keyset on created_at, id); `where` uses $3.. for `args`."""
    created, last_id = creation_cursor(page)
    return list(
        await conn.fetch(
            f"""SELECT {select} FROM {table} t
                WHERE ($1::timestamptz IS NULL OR (t.created_at, t.id) > ($1, $2::uuid))
                  {_alive(table).replace("deleted_at", "t.deleted_at")} AND ({where})
                ORDER BY t.created_at, t.id LIMIT {page.limit + 1}""",
            created,
            last_id,
            *args,
        )
    )


def creation_cursor(page: Page) -> tuple[datetime | None, uuid.UUID | None]:
    if page.after is None:
        return None, None
    created, last_id = cursor_key(page, 2)
    try:
        return datetime.fromisoformat(created), uuid.UUID(last_id)
    except (TypeError, ValueError):
        raise validation_failed({"cursor": "is not a cursor this endpoint issued"}) from None


def creation_key(row: Mapping[str, Any]) -> list[Any]:
    return [row["created_at"].isoformat(), str(row["id"])]
