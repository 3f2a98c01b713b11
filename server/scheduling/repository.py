"""Values of the scheduling catalog as the API writes them: IANA time zones, weekly hours and
day spans in minutes, and the creation-order cursor of the catalog's pages. No SQL: the rows
themselves are storage/scheduling's."""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from piccolo.table import Table

from server.errors import validation_failed
from server.scheduling._web import Page, cursor_key
from storage.scheduling import Keyset
from storage.tables import TABLES

_TABLES: dict[str, type[Table]] = {t._meta.tablename: t for t in TABLES}


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


def weekly_rows(hours: Iterable[Mapping[str, Any]], field: str) -> list[dict[str, Any]]:
    """Validated weekly intervals as {"weekday", "start_min", "end_min"} (and "location_id"
    where one is named), sorted; 422 for an interval that ends before it starts or overlaps
    another of the same weekday."""
    rows: list[dict[str, Any]] = sorted(
        (
            {
                "weekday": int(h["weekday"]),
                "start_min": minutes(h["start"]),
                "end_min": minutes(h["end"]),
                **({"location_id": uuid.UUID(h["location_id"])} if h.get("location_id") else {}),
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
        {
            "weekday": r["weekday"],
            "start": hhmm(r["start_min"]),
            "end": hhmm(r["end_min"]),
            # Where the specialist works then, when their week names a location.
            **({"location_id": str(r["location_id"])} if r.get("location_id") else {}),
        }
        for r in rows
    ]


# --- creation order (the catalog's pages) ---------------------------------------------------


def creation_cursor(page: Page) -> Keyset | None:
    """Where a page in creation order resumes (storage's keyset), from the page's cursor."""
    if page.after is None:
        return None
    created, last_id = cursor_key(page, 2)
    try:
        return Keyset(datetime.fromisoformat(created), uuid.UUID(last_id))
    except (TypeError, ValueError):
        raise validation_failed({"cursor": "is not a cursor this endpoint issued"}) from None


def creation_key(row: Mapping[str, Any]) -> list[Any]:
    return [row["created_at"].isoformat(), str(row["id"])]


def table_named(name: str) -> type[Table]:
    """The Piccolo table of a name (resources that name their table rather than pass it)."""
    return _TABLES[name]
