"""Specialists, their weekly working hours and their date overrides."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

import asyncpg
from aiohttp import web

from server.errors import not_found, validation_failed
from server.http import iso, json_response, path_id, read_json
from server.routing import Endpoint
from server.scheduling import repository as repo
from server.scheduling import schemas
from server.scheduling._web import Work, unit_of_work
from server.scheduling.access import ADMIN, CATALOG_READERS
from server.scheduling.crud import Resource
from storage.scheduling import InvalidReference

TAG = "scheduling: specialists"
_SPECIALTY_IDS = (
    "array(SELECT ss.specialty_id FROM specialist_specialties ss"
    " WHERE ss.specialist_id = t.id ORDER BY ss.specialty_id) AS specialty_ids"
)


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


async def fetch_specialist(conn: asyncpg.Connection, row_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT t.*, {_SPECIALTY_IDS} FROM specialists t WHERE t.id = $1 AND t.deleted_at IS NULL",
        row_id,
    )


async def _columns(
    work: Work, body: dict[str, Any], current: asyncpg.Record | None
) -> dict[str, Any]:
    values = {k: v for k, v in body.items() if k in ("name", "timezone", "active")}
    if "timezone" in body:
        repo.check_timezone(body["timezone"])
    if "user_id" in body:
        values["user_id"] = uuid.UUID(body["user_id"]) if body["user_id"] else None
    if current is None:
        values["organization_id"] = work.org_id
    return values


async def _link_specialties(work: Work, specialist_id: uuid.UUID, body: dict[str, Any]) -> None:
    if "specialty_ids" not in body:
        return
    ids = [uuid.UUID(s) for s in body["specialty_ids"]]
    found = await work.conn.fetchval(
        "SELECT count(*) FROM specialties WHERE id = ANY($1::uuid[])", ids
    )
    if found != len(ids):
        raise InvalidReference("specialty_ids", "names a specialty that does not exist")
    await work.conn.execute(
        "DELETE FROM specialist_specialties WHERE specialist_id = $1", specialist_id
    )
    await work.conn.executemany(
        """INSERT INTO specialist_specialties (organization_id, specialist_id, specialty_id)
           VALUES ($1, $2, $3)""",
        [(work.org_id, specialist_id, s) for s in ids],
    )


SPECIALISTS = Resource(
    entity="specialist",
    table="specialists",
    path="/v1/specialists",
    tag=TAG,
    render=render_specialist,
    create_schema=schemas.SPECIALIST,
    patch_schema=schemas.SPECIALIST_PATCH,
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_columns,
    after_write=_link_specialties,
    fetch=fetch_specialist,
    list_select=f"t.*, {_SPECIALTY_IDS}",
)


async def _require_specialist(work: Work, specialist_id: uuid.UUID, lock: bool = False) -> None:
    if await repo.get_row(work.conn, "specialists", specialist_id, lock=lock) is None:
        raise not_found("specialist")


async def _weekly(conn: asyncpg.Connection, specialist_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT weekday, start_min, end_min FROM specialist_hours
           WHERE specialist_id = $1 ORDER BY weekday, start_min""",
        specialist_id,
    )
    return repo.render_weekly(rows) or []


async def get_weekly_hours(request: web.Request) -> web.Response:
    specialist_id = path_id(request, what="specialist")
    async with unit_of_work(request) as work:
        await _require_specialist(work, specialist_id)
        hours = await _weekly(work.conn, specialist_id)
    return json_response({"specialist_id": str(specialist_id), "hours": hours})


async def put_weekly_hours(request: web.Request) -> web.Response:
    """Replace the specialist's whole week (an empty list: no regular hours)."""
    specialist_id = path_id(request, what="specialist")
    body = await read_json(request, schemas.WEEKLY_HOURS_PUT)
    rows = repo.weekly_rows(body["hours"], "hours")
    async with unit_of_work(request) as work:
        await _require_specialist(work, specialist_id, lock=True)
        before = await _weekly(work.conn, specialist_id)
        await work.conn.execute(
            "DELETE FROM specialist_hours WHERE specialist_id = $1", specialist_id
        )
        await work.conn.executemany(
            """INSERT INTO specialist_hours (organization_id, specialist_id, weekday, start_min,
                 end_min) VALUES ($1, $2, $3, $4, $5)""",
            [
                (work.org_id, specialist_id, r["weekday"], r["start_min"], r["end_min"])
                for r in rows
            ],
        )
        after = await _weekly(work.conn, specialist_id)
        await work.audit(
            "specialist.weekly_hours",
            "specialist",
            specialist_id,
            {"hours": before},
            {"hours": after},
        )
        work.emit_org("specialist.updated", {"id": specialist_id, "part": "weekly_hours"})
    return json_response({"specialist_id": str(specialist_id), "hours": after})


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
    async with unit_of_work(request) as work:
        await _require_specialist(work, specialist_id)
        rows = await work.conn.fetch(
            """SELECT date, hours FROM specialist_overrides WHERE specialist_id = $1
                 AND ($2::date IS NULL OR date >= $2) AND ($3::date IS NULL OR date <= $3)
               ORDER BY date LIMIT 1000""",
            specialist_id,
            first,
            last,
        )
    return json_response({"data": [_render_override(r) for r in rows], "next_cursor": None})


async def put_override(request: web.Request) -> web.Response:
    """Set the hours of one date (replacing an earlier override of that date); [] = day off."""
    specialist_id = path_id(request, what="specialist")
    body = await read_json(request, schemas.OVERRIDE)
    spans = repo.day_ranges(body["hours"])
    day = date.fromisoformat(body["date"])
    async with unit_of_work(request) as work:
        await _require_specialist(work, specialist_id, lock=True)
        before = await work.conn.fetchrow(
            "SELECT date, hours FROM specialist_overrides WHERE specialist_id = $1 AND date = $2",
            specialist_id,
            day,
        )
        row = await work.conn.fetchrow(
            """INSERT INTO specialist_overrides (organization_id, specialist_id, date, hours)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (organization_id, specialist_id, date)
               DO UPDATE SET hours = EXCLUDED.hours
               RETURNING date, hours""",
            work.org_id,
            specialist_id,
            day,
            spans,
        )
        await work.audit("specialist.override", "specialist", specialist_id, before, row)
        work.emit_org("specialist.updated", {"id": specialist_id, "part": "overrides", "date": day})
    return json_response(_render_override(row), status=201)


async def delete_override(request: web.Request) -> web.Response:
    specialist_id = path_id(request, what="specialist")
    try:
        day = date.fromisoformat(request.match_info["date"])
    except ValueError:
        raise not_found("override") from None
    async with unit_of_work(request) as work:
        row = await work.conn.fetchrow(
            """DELETE FROM specialist_overrides WHERE specialist_id = $1 AND date = $2
               RETURNING date, hours""",
            specialist_id,
            day,
        )
        if row is None:
            raise not_found("override")
        await work.audit("specialist.override_delete", "specialist", specialist_id, row, None)
        work.emit_org("specialist.updated", {"id": specialist_id, "part": "overrides", "date": day})
    return web.Response(status=204)


_ONE = "/v1/specialists/{id}"
ENDPOINTS = SPECIALISTS.endpoints() + [
    Endpoint(
        "GET",
        _ONE + "/weekly-hours",
        get_weekly_hours,
        CATALOG_READERS,
        "A specialist's weekly working hours",
        TAG,
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
