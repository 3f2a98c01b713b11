"""Specialists, their weekly working hours and their date overrides.

An edit of the hours, an override or the profile (`active` and `timezone` shape its calendars'
slots) is a command to the calendar shard owning the organization: it writes the edit and
pushes the slot changes of every calendar of the specialist before the edit is acknowledged
(actors/calendar/_rules.py)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

import asyncpg
from aiohttp import web

from actors.calendar import caller_of
from actors.calendar import messages as m
from server.errors import not_found, validation_failed
from server.http import iso, json_response, path_id, read_json
from server.routing import Endpoint, page
from server.scheduling import repository as repo
from server.scheduling import schemas
from server.scheduling._web import Work, unit_of_work
from server.scheduling.access import ADMIN, CATALOG_READERS
from server.scheduling.crud import Resource, rule_edit
from storage import scheduling as store

TAG = "scheduling: specialists"


def render_specialist(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "name": r["name"],
        "timezone": r["timezone"],
        "user_id": str(r["user_id"]) if r["user_id"] else None,
        "active": r["active"],
        "specialty_ids": [str(s) for s in r["specialty_ids"]],
        "created_at": iso(r["created_at"]),
        "updated_at": iso(r["updated_at"]),
    }


async def fetch_specialist(conn: asyncpg.Connection, row_id: uuid.UUID) -> Any:
    return await store.specialist_view(conn, row_id)


def _profile(body: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in body.items() if k in ("name", "timezone", "active")}
    if "timezone" in body:
        repo.check_timezone(body["timezone"])
    if "user_id" in body:
        values["user_id"] = uuid.UUID(body["user_id"]) if body["user_id"] else None
    return values


def _specialties(body: dict[str, Any]) -> tuple[uuid.UUID, ...] | None:
    """The specialties the body names (None: unchanged)."""
    if "specialty_ids" not in body:
        return None
    return tuple(uuid.UUID(s) for s in body["specialty_ids"])


async def _columns(
    work: Work, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {**_profile(body), **({"organization_id": work.org_id} if current is None else {})}


async def _link_specialties(work: Work, specialist_id: uuid.UUID, body: dict[str, Any]) -> None:
    """The specialties of a specialist being created (later edits go through the shard)."""
    ids = _specialties(body)
    if ids is not None:
        await store.link_specialties(work.org_id, specialist_id, ids)


SPECIALISTS = Resource(
    entity="specialist",
    table="specialists",
    path="/v1/specialists",
    tag=TAG,
    render=render_specialist,
    schema=schemas.SPECIALIST_OUT,
    create_schema=schemas.SPECIALIST,
    patch_schema=schemas.SPECIALIST_PATCH,
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_columns,
    after_write=_link_specialties,
    fetch=fetch_specialist,
    list_select=store.SPECIALIST_SELECT,
)


async def _require_specialist(specialist_id: uuid.UUID) -> None:
    if not await store.specialist_exists(specialist_id):
        raise not_found("specialist")


async def get_weekly_hours(request: web.Request) -> web.Response:
    specialist_id = path_id(request, what="specialist")
    async with unit_of_work(request):
        await _require_specialist(specialist_id)
        hours = repo.render_weekly(await store.weekly_hours(specialist_id)) or []
    return json_response({"specialist_id": str(specialist_id), "hours": hours})


async def patch_specialist(request: web.Request) -> web.Response:
    specialist_id = path_id(request, what="specialist")
    body = await read_json(request, schemas.SPECIALIST_PATCH)
    async with unit_of_work(request) as work:
        command = m.EditSpecialist(
            work.org_id, caller_of(work.principal), work.actor, specialist_id, _profile(body),
            _specialties(body),
        )  # fmt: skip
    edited = await _edit(request, command)
    return json_response(render_specialist(edited.after))


async def delete_specialist(request: web.Request) -> web.Response:
    specialist_id = path_id(request, what="specialist")
    async with unit_of_work(request) as work:
        command = m.DeleteSpecialist(
            work.org_id, caller_of(work.principal), work.actor, specialist_id
        )
    await _edit(request, command, event="specialist.deleted")
    return web.Response(status=204)


async def _edit(
    request: web.Request,
    command: m.SetWeeklyHours
    | m.SetOverride
    | m.DeleteOverride
    | m.EditSpecialist
    | m.DeleteSpecialist,
    event: str = "specialist.updated",
    **data: Any,
) -> m.RulesEdited:
    return await rule_edit(request, command, event, {"id": command.specialist_id, **data})


async def put_weekly_hours(request: web.Request) -> web.Response:
    """Replace the specialist's whole week (an empty list: no regular hours)."""
    specialist_id = path_id(request, what="specialist")
    body = await read_json(request, schemas.WEEKLY_HOURS_PUT)
    week = tuple(repo.weekly_rows(body["hours"], "hours"))
    async with unit_of_work(request) as work:
        for place in {r["location_id"] for r in week if "location_id" in r}:
            await store.require_location(place, "hours")
        command = m.SetWeeklyHours(
            work.org_id, caller_of(work.principal), work.actor, specialist_id, week
        )
    edited = await _edit(request, command, part="weekly_hours")
    hours = repo.render_weekly(edited.after) or []
    return json_response({"specialist_id": str(specialist_id), "hours": hours})


def _render_override(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "date": r["date"].isoformat(),
        "hours": [{"start": repo.hhmm(a), "end": repo.hhmm(b)} for a, b in r["hours"]],
        "day_off": not r["hours"],
    }


def _query_date(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise validation_failed({name: "must be a date (YYYY-MM-DD)"}) from None


async def list_overrides(request: web.Request) -> web.Response:
    specialist_id = path_id(request, what="specialist")
    first, last = _query_date(request, "from"), _query_date(request, "to")
    async with unit_of_work(request):
        await _require_specialist(specialist_id)
        rows = await store.overrides(specialist_id, first, last)
    return json_response({"data": [_render_override(r) for r in rows], "next_cursor": None})


async def put_override(request: web.Request) -> web.Response:
    """Set the hours of one date (replacing an earlier override of that date); [] = day off."""
    specialist_id = path_id(request, what="specialist")
    body = await read_json(request, schemas.OVERRIDE)
    spans = tuple((a, b) for a, b in repo.day_ranges(body["hours"]))
    day = date.fromisoformat(body["date"])
    async with unit_of_work(request) as work:
        command = m.SetOverride(
            work.org_id, caller_of(work.principal), work.actor, specialist_id, day, spans
        )
    edited = await _edit(request, command, part="overrides", date=day)
    return json_response(_render_override(edited.after), status=201)


async def delete_override(request: web.Request) -> web.Response:
    specialist_id = path_id(request, what="specialist")
    try:
        day = date.fromisoformat(request.match_info["date"])
    except ValueError:
        raise not_found("override") from None
    async with unit_of_work(request) as work:
        command = m.DeleteOverride(
            work.org_id, caller_of(work.principal), work.actor, specialist_id, day
        )
    await _edit(request, command, part="overrides", date=day)
    return web.Response(status=204)


_ONE = "/v1/specialists/{id}"
ENDPOINTS = SPECIALISTS.endpoints(patch=patch_specialist, delete=delete_specialist) + [
    Endpoint(
        "GET",
        _ONE + "/weekly-hours",
        get_weekly_hours,
        CATALOG_READERS,
        "A specialist's weekly working hours",
        TAG,
        response_schema=schemas.WEEKLY_HOURS_OUT,
        errors=(404,),
    ),
    Endpoint(
        "PUT",
        _ONE + "/weekly-hours",
        put_weekly_hours,
        ADMIN,
        "Replace a specialist's weekly working hours",
        TAG,
        request_schema=schemas.WEEKLY_HOURS_PUT,
        response_schema=schemas.WEEKLY_HOURS_OUT,
        errors=(404,),
    ),
    Endpoint(
        "GET",
        _ONE + "/overrides",
        list_overrides,
        CATALOG_READERS,
        "A specialist's date overrides",
        TAG,
        query={"from": "first date", "to": "last date"},
        response_schema=page(schemas.OVERRIDE_OUT),
        errors=(404,),
    ),
    Endpoint(
        "POST",
        _ONE + "/overrides",
        put_override,
        ADMIN,
        "Set a specialist's hours for one date (empty hours = day off)",
        TAG,
        request_schema=schemas.OVERRIDE,
        response_schema=schemas.OVERRIDE_OUT,
        status=201,
        errors=(404,),
    ),
    Endpoint(
        "DELETE",
        _ONE + "/overrides/{date}",
        delete_override,
        ADMIN,
        "Remove a date override",
        TAG,
        status=204,
        errors=(404,),
    ),
]
