"""Calendars (the bookable unit: a service, its specialists, the booking rules) and their slots.

Slots are served by the calendar shard owning the organization; an edit of a calendar's settings
or members is a command to that shard, which writes it and pushes the slot changes before the
edit is acknowledged (actors/calendar/_rules.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from actors.calendar import caller_of, slot_json
from actors.calendar import messages as m
from pipelines.availability import compute_slots
from server.errors import not_found, validation_failed
from server.http import iso, json_response, path_id, read_json
from server.middleware import principal
from server.routing import Endpoint
from server.scheduling import repository as repo
from server.scheduling import schemas
from server.scheduling._web import Work, unit_of_work
from server.scheduling.access import ADMIN, CATALOG_READERS, SLOT_READERS
from server.scheduling.crud import Resource, rule_edit
from server.scheduling.shards import SLOT_QUERY, SlotQuery, render_slots, settled
from server.services import CALENDARS_KEY
from storage import scheduling as store
from storage.types import Role

TAG = "scheduling: calendars"
MAX_WINDOW = timedelta(days=62)
DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_HORIZON_DAYS = 30


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


async def fetch_calendar(conn: asyncpg.Connection, row_id: uuid.UUID) -> Any:
    return await store.calendar_view(conn, row_id)


async def _columns(
    work: Work, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    return await _settings(work, body, create=current is None)


async def _settings(work: Work, body: dict[str, Any], *, create: bool) -> dict[str, Any]:
    """Column values of a create or a settings change, validated."""
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
    duration = None
    if "service_id" in body:
        service_id = uuid.UUID(body["service_id"])
        duration = await store.service_duration(service_id)
        if duration is None:
            raise validation_failed({"service_id": "no such service"})
        values["service_id"] = service_id
    if create:
        assert duration is not None  # required by the create schema
        values["organization_id"] = work.org_id
        values.setdefault("slot_interval_min", duration)
        if "period_start" not in values:
            values.setdefault("horizon_days", DEFAULT_HORIZON_DAYS)
    return values


def _members(body: dict[str, Any]) -> tuple[store.Member, ...] | None:
    """The calendar's specialists as the body names them (None: unchanged)."""
    if "specialists" not in body:
        return None
    members = []
    for named in body["specialists"]:
        hours = named.get("hours")
        week = None if hours is None else tuple(repo.weekly_rows(hours, "specialists.hours"))
        members.append(store.Member(uuid.UUID(named["id"]), named.get("priority", 0), week))
    return tuple(members)


async def _set_members(work: Work, calendar_id: uuid.UUID, body: dict[str, Any]) -> None:
    """The specialists of a calendar being created (no shard has it yet)."""
    members = _members(body)
    if members is not None:
        await store.set_calendar_members(work.conn, work.org_id, calendar_id, members)


CALENDARS = Resource(
    entity="calendar",
    table="calendars",
    path="/v1/calendars",
    tag=TAG,
    render=render_calendar,
    schema=schemas.CALENDAR_OUT,
    create_schema=schemas.CALENDAR,
    patch_schema=schemas.CALENDAR_PATCH,
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_columns,
    after_write=_set_members,
    fetch=fetch_calendar,
    list_select=store.CALENDAR_SELECT,
)


async def patch_calendar(request: web.Request) -> web.Response:
    calendar_id = path_id(request, what="calendar")
    body = await read_json(request, schemas.CALENDAR_PATCH)
    async with unit_of_work(request) as work:  # validates the references the body names
        values = await _settings(work, body, create=False)
        command = m.EditCalendar(
            work.org_id, caller_of(work.principal), work.actor, calendar_id, values,
            _members(body),
        )  # fmt: skip
    edited = await rule_edit(request, command, "calendar.updated", {"id": calendar_id})
    return json_response(render_calendar(edited.after))


async def delete_calendar(request: web.Request) -> web.Response:
    calendar_id = path_id(request, what="calendar")
    async with unit_of_work(request) as work:
        command = m.DeleteCalendar(work.org_id, caller_of(work.principal), work.actor, calendar_id)
    await rule_edit(request, command, "calendar.deleted", {"id": calendar_id})
    return web.Response(status=204)


def _instant(value: datetime | date | None, zone: ZoneInfo, *, end: bool) -> datetime | None:
    """An instant as given, or a calendar-local date (`to` includes the whole date)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value + timedelta(days=1 if end else 0), time(0), zone)


async def get_slots(request: web.Request) -> web.Response:
    """The calendar's bookable slots in [from, to) (default: the next 7 days), sorted by start.

    Served by the calendar shard that owns the calendar, with the stream position it reflects;
    computed from the database (position null) only when no shards run in this process.
    """
    if CALENDARS_KEY in request.app:
        return await _live_slots(request)
    calendar_id = path_id(request, what="calendar")
    query = SlotQuery.of(request.query)
    now = datetime.now(UTC)
    async with unit_of_work(request) as work:
        zone_name = await store.calendar_zone(calendar_id)
        if zone_name is None:
            raise not_found("calendar")
        zone = ZoneInfo(zone_name)
        start = _instant(query.start, zone, end=False) or now
        stop = _instant(query.end, zone, end=True) or start + DEFAULT_WINDOW
        if stop <= start:
            raise validation_failed({"to": "must be after from"})
        if stop - start > MAX_WINDOW:
            raise validation_failed({"to": f"the window may span at most {MAX_WINDOW.days} days"})
        snap = await store.load_calendar_snapshot(
            work.conn, calendar_id, now=now, window=(start, stop)
        )
        if work.principal.role is Role.PATIENT and not snap.public:
            raise not_found("calendar")
    slots = await asyncio.to_thread(
        compute_slots, snap.calendar, snap.busy(), [], now, start, stop, snap.assignment_counts
    )
    return json_response(
        query.render(
            {
                "calendar_id": str(calendar_id),
                "timezone": snap.calendar.timezone,
                "position": None,
                "slots": [slot_json(s) for s in slots],
            }
        )
    )


async def _live_slots(request: web.Request) -> web.Response:
    calendar_id = path_id(request, what="calendar")
    query = SlotQuery.of(request.query)
    call = request.app[CALENDARS_KEY].slots(
        caller_of(principal(request)), calendar_id, query.start, query.end
    )
    return json_response(render_slots(await settled(call, m.SlotsView), query))


ENDPOINTS = CALENDARS.endpoints(patch=patch_calendar, delete=delete_calendar) + [
    Endpoint(
        "GET",
        "/v1/calendars/{id}/slots",
        get_slots,
        SLOT_READERS,
        "Bookable slots of a calendar",
        TAG,
        response_schema=schemas.SLOTS_RESPONSE,
        query=SLOT_QUERY,
        errors=(404, 422),
    ),
]
