"""Staff day views: the grid of every specialist for one date (front desk) and a specialist's
own day. Each lists the specialist's working hours that date and their appointments."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from server.errors import validation_failed
from server.http import iso, json_response
from server.routing import Endpoint
from server.scheduling import repository as repo
from server.scheduling import schemas
from server.scheduling._web import unit_of_work
from server.scheduling.access import FRONT_DESK, SPECIALIST
from storage import scheduling as store

TAG = "scheduling: schedule"


def _day(request: web.Request) -> date:
    raw = request.query.get("date")
    if not raw:
        raise validation_failed({"date": "is required (YYYY-MM-DD)"})
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise validation_failed({"date": "must be a date (YYYY-MM-DD)"}) from None


def _zone(request: web.Request, default: str) -> ZoneInfo:
    name = request.query.get("timezone") or default
    return ZoneInfo(repo.check_timezone(name))


def _local(day: date, minute: int, zone: ZoneInfo) -> datetime:
    return (
        datetime.combine(day, time(0), zone) + timedelta(minutes=minute)
        if minute >= 1440
        else datetime.combine(day, time(minute // 60, minute % 60), zone)
    )


def working_hours(
    day: date, zone: ZoneInfo, weekly: Iterable[Mapping[str, Any]], override: list[Any] | None
) -> list[dict[str, str | None]]:
    """The specialist's hours on their local `day` (the override when there is one)."""
    spans = (
        override
        if override is not None
        else [(w["start_min"], w["end_min"]) for w in weekly if w["weekday"] == day.isoweekday()]
    )
    return [
        {"start": iso(_local(day, a, zone)), "end": iso(_local(day, b, zone))} for a, b in spans
    ]


async def _columns(
    conn: asyncpg.Connection,
    day: date,
    zone: ZoneInfo,
    specialist_ids: list[uuid.UUID] | None,
) -> list[dict[str, Any]]:
    start = datetime.combine(day, time(0), zone)
    stop = datetime.combine(day + timedelta(days=1), time(0), zone)
    found = await store.day_rows(conn, day, start, stop, specialist_ids)
    specialists, weekly, overrides, appointments = (
        found.specialists,
        found.weekly,
        found.overrides,
        found.appointments,
    )
    by_override = {o["specialist_id"]: list(o["hours"]) for o in overrides}
    columns = []
    for s in specialists:
        own_zone = ZoneInfo(s["timezone"])
        columns.append(
            {
                "id": str(s["id"]),
                "name": s["name"],
                "timezone": s["timezone"],
                "working_hours": working_hours(
                    day,
                    own_zone,
                    [w for w in weekly if w["specialist_id"] == s["id"]],
                    by_override.get(s["id"]),
                ),
                "appointments": [
                    {
                        "id": str(a["id"]),
                        "status": a["status"],
                        "start": iso(a["starts_at"]),
                        "end": iso(a["ends_at"]),
                        "calendar_id": str(a["calendar_id"]),
                        "room": None
                        if a["room_id"] is None
                        else {"id": str(a["room_id"]), "name": a["room_name"]},
                        "patient": {
                            "id": str(a["patient_id"]),
                            "first_name": a["first_name"],
                            "last_name": a["last_name"],
                        },
                    }
                    for a in appointments
                    if a["specialist_id"] == s["id"]
                ],
            }
        )
    return columns


async def grid(request: web.Request) -> web.Response:
    """Every active specialist's day (the date read in the organization's time zone unless
    `timezone` is given), appointments of every status included."""
    day = _day(request)
    async with unit_of_work(request) as work:
        org_zone = await store.organization_zone(work.org_id)
        zone = _zone(request, org_zone or "UTC")
        columns = await _columns(work.conn, day, zone, None)
    return json_response({"date": day.isoformat(), "timezone": zone.key, "specialists": columns})


async def my_day(request: web.Request) -> web.Response:
    """The calling specialist's day, read in their own time zone unless `timezone` is given."""
    day = _day(request)
    async with unit_of_work(request) as work:
        sid = work.principal.specialist_id
        own = None
        if sid is not None:
            own = await store.specialist_zone(sid)
        if own is None:
            return json_response({"date": day.isoformat(), "timezone": "UTC", "specialist": None})
        zone = _zone(request, own)
        columns = await _columns(work.conn, day, zone, [sid])  # type: ignore[list-item]
    return json_response(
        {
            "date": day.isoformat(),
            "timezone": zone.key,
            "specialist": columns[0] if columns else None,
        }
    )


_Q = {"date": "YYYY-MM-DD (required)", "timezone": "IANA zone the date is read in"}
ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/schedule/grid",
        grid,
        FRONT_DESK,
        "Day grid of all specialists",
        TAG,
        query=_Q,
        response_schema=schemas.GRID_OUT,
    ),
    Endpoint(
        "GET",
        "/v1/schedule/my",
        my_day,
        SPECIALIST,
        "The calling specialist's day",
        TAG,
        query=_Q,
        response_schema=schemas.MY_DAY_OUT,
    ),
]
