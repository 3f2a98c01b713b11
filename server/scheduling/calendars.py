"""Calendars (the bookable unit: a service, its specialists, the booking rules) and their slots,
computed by the availability engine from the database (the calendar actors serve them later)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from pipelines.availability import Slot, compute_slots
from server.errors import not_found, validation_failed
from server.http import iso, json_response, path_id
from server.routing import Endpoint
from server.scheduling import repository as repo
from server.scheduling import schemas
from server.scheduling._web import Work, unit_of_work
from server.scheduling.access import ADMIN, CATALOG_READERS, SLOT_READERS
from server.scheduling.crud import Resource
from storage.scheduling import InvalidReference, load_calendar_snapshot
from storage.types import Role

TAG = "scheduling: calendars"
MAX_WINDOW = timedelta(days=62)
DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_HORIZON_DAYS = 30
_MEMBERS = (
    "COALESCE((SELECT jsonb_agg(jsonb_build_object('id', cs.specialist_id, 'priority',"
    " cs.priority, 'hours', cs.hours) ORDER BY cs.priority, cs.specialist_id)"
    " FROM calendar_specialists cs WHERE cs.calendar_id = t.id), '[]'::jsonb) AS members"
)


def render_calendar(r: Mapping[str, Any]) -> dict[str, Any]:
    period = None
    if r["period_start"] is not None:
        period = {"start": r["period_start"].isoformat(), "end": r["period_end"].isoformat()}
    return {
        "id": str(r["id"]),
        "name": r["name"],
        "service_id": str(r["service_id"]),
        "timezone": r["timezone"],
        "public": r["public"],
        "slot_interval_min": r["slot_interval_min"],
        "min_notice_min": r["min_notice_min"],
        "horizon_days": r["horizon_days"],
        "period": period,
        "assignment": r["assignment"],
        "specialists": [
            {"id": m["id"], "priority": m["priority"], "hours": repo.render_weekly(m["hours"])}
            for m in r["members"]
        ],
        "hours": repo.render_weekly(r["hours"]),
        "daily_cap": r["daily_cap"],
        "hold_ttl_s": r["hold_ttl_s"],
        "active": r["active"],
        "created_at": iso(r["created_at"]),
        "updated_at": iso(r["updated_at"]),
    }


async def fetch_calendar(conn: asyncpg.Connection, row_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT t.*, {_MEMBERS} FROM calendars t WHERE t.id = $1 AND t.deleted_at IS NULL",
        row_id,
    )


async def _columns(
    work: Work, body: dict[str, Any], current: asyncpg.Record | None
) -> dict[str, Any]:
    plain = (
        "name",
        "public",
        "slot_interval_min",
        "min_notice_min",
        "assignment",
        "daily_cap",
        "hold_ttl_s",
        "active",
    )
    values = {k: body[k] for k in plain if k in body}
    if "timezone" in body:
        values["timezone"] = repo.check_timezone(body["timezone"])
    if "horizon_days" in body and "period" in body:
        raise validation_failed({"period": "give horizon_days or period, not both"})
    if "horizon_days" in body:
        values.update(horizon_days=body["horizon_days"], period_start=None, period_end=None)
    if "period" in body:
        start, end = (date.fromisoformat(body["period"][k]) for k in ("start", "end"))
        if end < start:
            raise validation_failed({"period.end": "must not be before period.start"})
        values.update(horizon_days=None, period_start=start, period_end=end)
    if "hours" in body:
        hours = body["hours"]
        values["hours"] = None if hours is None else repo.weekly_rows(hours, "hours")
    service = None
    if "service_id" in body:
        service = await work.conn.fetchrow(
            "SELECT id, duration_min FROM services WHERE id = $1 AND deleted_at IS NULL",
            uuid.UUID(body["service_id"]),
        )
        if service is None:
            raise validation_failed({"service_id": "no such service"})
        values["service_id"] = service["id"]
    if current is None:
        assert service is not None  # required by the create schema
        values["organization_id"] = work.org_id
        values.setdefault("slot_interval_min", service["duration_min"])
        if "period_start" not in values:
            values.setdefault("horizon_days", DEFAULT_HORIZON_DAYS)
    return values


async def _set_members(work: Work, calendar_id: uuid.UUID, body: dict[str, Any]) -> None:
    """Replace the calendar's specialists; those who stay keep their round-robin count."""
    if "specialists" not in body:
        return
    members = body["specialists"]
    ids = [uuid.UUID(m["id"]) for m in members]
    if len(set(ids)) != len(ids):
        raise validation_failed({"specialists": "lists a specialist twice"})
    found = await work.conn.fetchval(
        "SELECT count(*) FROM specialists WHERE id = ANY($1::uuid[]) AND deleted_at IS NULL", ids
    )
    if found != len(ids):
        raise InvalidReference("specialists", "names a specialist that does not exist")
    await work.conn.execute(
        """DELETE FROM calendar_specialists
           WHERE calendar_id = $1 AND NOT specialist_id = ANY($2::uuid[])""",
        calendar_id,
        ids,
    )
    rows = []
    for sid, m in zip(ids, members, strict=True):
        hours = m.get("hours")
        rows.append(
            (
                work.org_id,
                calendar_id,
                sid,
                m.get("priority", 0),
                None if hours is None else repo.weekly_rows(hours, "specialists.hours"),
            )
        )
    await work.conn.executemany(
        """INSERT INTO calendar_specialists (organization_id, calendar_id, specialist_id,
             priority, hours) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (organization_id, calendar_id, specialist_id)
           DO UPDATE SET priority = EXCLUDED.priority, hours = EXCLUDED.hours""",
        rows,
    )


CALENDARS = Resource(
    entity="calendar",
    table="calendars",
    path="/v1/calendars",
    tag=TAG,
    render=render_calendar,
    create_schema=schemas.CALENDAR,
    patch_schema=schemas.CALENDAR_PATCH,
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_columns,
    after_write=_set_members,
    fetch=fetch_calendar,
    list_select=f"t.*, {_MEMBERS}",
)


def _bound(raw: str | None, name: str, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """An RFC 3339 instant, or a calendar-local date (`to` includes the whole date)."""
    if not raw:
        return None
    if len(raw) == 10:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise validation_failed({name: "must be a date or an RFC 3339 date-time"}) from None
        return datetime.combine(day + timedelta(days=1 if end else 0), time(0), zone)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise validation_failed({name: "must be a date or an RFC 3339 date-time"}) from None
    if value.tzinfo is None:
        raise validation_failed({name: "must carry a UTC offset (e.g. Z or +02:00)"})
    return value


def render_slot(slot: Slot) -> dict[str, Any]:
    return {
        "start": iso(slot.start),
        "end": iso(slot.end),
        "specialist_ids": [str(s) for s in slot.specialist_ids],
    }


async def get_slots(request: web.Request) -> web.Response:
    """The calendar's bookable slots in [from, to) (default: the next 7 days), sorted by start.

    Served by the calendar shard that owns the calendar, with the stream position it reflects;
    computed from the database (position null) only when no shards run in this process.
    """
    from server.live.routes import LIVE_SLOTS, staff_slots

    if LIVE_SLOTS in request.app:
        return await staff_slots(request)
    calendar_id = path_id(request, what="calendar")
    now = datetime.now(UTC)
    async with unit_of_work(request) as work:
        zone_name = await work.conn.fetchval(
            "SELECT timezone FROM calendars WHERE id = $1 AND deleted_at IS NULL", calendar_id
        )
        if zone_name is None:
            raise not_found("calendar")
        zone = ZoneInfo(zone_name)
        start = _bound(request.query.get("from"), "from", zone, end=False) or now
        stop = _bound(request.query.get("to"), "to", zone, end=True) or start + DEFAULT_WINDOW
        if stop <= start:
            raise validation_failed({"to": "must be after from"})
        if stop - start > MAX_WINDOW:
            raise validation_failed({"to": f"the window may span at most {MAX_WINDOW.days} days"})
        snap = await load_calendar_snapshot(work.conn, calendar_id, now=now, window=(start, stop))
        if work.principal.role is Role.PATIENT and not snap.public:
            raise not_found("calendar")
    slots = await asyncio.to_thread(
        compute_slots, snap.calendar, snap.busy(), [], now, start, stop, snap.assignment_counts
    )
    return json_response(
        {
            "calendar_id": str(calendar_id),
            "timezone": snap.calendar.timezone,
            "position": None,
            "slots": [render_slot(s) for s in slots],
        }
    )


ENDPOINTS = CALENDARS.endpoints() + [
    Endpoint(
        "GET",
        "/v1/calendars/{id}/slots",
        get_slots,
        SLOT_READERS,
        "Bookable slots of a calendar",
        TAG,
        response_schema=schemas.SLOTS_RESPONSE,
        query={
            "from": "RFC 3339 instant or calendar-local date (default now)",
            "to": "RFC 3339 instant or calendar-local date, inclusive (default from+7d)",
        },
        errors=(404,),
    ),
]
