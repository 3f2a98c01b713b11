"""Locations, rooms and equipment (issue #17 item 1), and what a service requires of them.

Admins write, staff read, like the rest of the catalog (server/scheduling/crud.py `Resource`:
paged, audited, `<entity>.created|updated|deleted` on the organization's channel). A room or a
piece of equipment names its location, checked in the caller's tenant (a foreign or unknown id is
a 422 on `location_id`). What an appointment reserves is decided by the database in the
booking's own statement (docs/scheduling-resources.md); the slots are the calendar shard's, so
once an edit has committed the organization's shard is told (`resources_changed`) and applies
it to its loaded calendars before the answer."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from actors.calendar import messages as m
from server.errors import not_found
from server.http import iso, json_response, path_id, read_json
from server.routing import ID, STAMP, Endpoint, nullable, shape
from server.scheduling._web import Work, unit_of_work
from server.scheduling.access import ADMIN, CATALOG_READERS
from server.scheduling.crud import Resource
from server.scheduling.schemas import NAME, UUID
from server.services import CALENDARS_KEY
from storage import scheduling as store
from storage.tables import Equipment, Locations, Rooms, Services

log = logging.getLogger("cadence.scheduling.resources")
TAG = "scheduling: resources"
_TEXT = {"type": "string"}
KIND = {"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,39}$"}


def _object(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _patch(create: dict[str, Any]) -> dict[str, Any]:
    return {**create, "required": [], "minProperties": 1}


LOCATION = _object(
    {"name": NAME, "address": {"anyOf": [{"type": "string", "maxLength": 500}, {"type": "null"}]}},
    ("name",),
)
ROOM = _object({"name": NAME, "kind": KIND, "location_id": UUID}, ("name", "kind", "location_id"))
EQUIPMENT = _object({"name": NAME, "location_id": UUID}, ("name", "location_id"))
REQUIREMENTS = _object(
    {
        "room_kind": {"anyOf": [KIND, {"type": "null"}]},
        "equipment_ids": {"type": "array", "items": UUID, "maxItems": 20, "uniqueItems": True},
    },
    ("room_kind", "equipment_ids"),
)
_STAMPS = {"created_at": STAMP, "updated_at": STAMP}
LOCATION_OUT = shape({"id": ID, "name": _TEXT, "address": nullable(_TEXT), **_STAMPS})
ROOM_OUT = shape({"id": ID, "name": _TEXT, "kind": _TEXT, "location_id": ID, **_STAMPS})
EQUIPMENT_OUT = shape({"id": ID, "name": _TEXT, "location_id": ID, **_STAMPS})
REQUIREMENTS_OUT = shape(
    {
        "service_id": ID,
        "room_kind": nullable(_TEXT),
        "equipment_ids": {"type": "array", "items": ID},
    }
)


def _stamps(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"created_at": iso(r["created_at"]), "updated_at": iso(r["updated_at"])}


def render_location(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(r["id"]), "name": r["name"], "address": r["address"], **_stamps(r)}


def render_room(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "name": r["name"],
        "kind": r["kind"],
        "location_id": str(r["location_id"]),
        **_stamps(r),
    }


def render_equipment(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "name": r["name"],
        "location_id": str(r["location_id"]),
        **_stamps(r),
    }


async def _placed(
    work: Work, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A room's or a piece of equipment's columns: its location must be the tenant's own."""
    values = dict(body)
    if "location_id" in body:
        values["location_id"] = uuid.UUID(body["location_id"])
        await store.require_location(values["location_id"])
    if current is None:
        values["organization_id"] = work.org_id
    return values


async def resources_changed(request: web.Request, org_id: uuid.UUID) -> None:
    """The organization's shard applies a committed edit to its live slots. Should it be away,
    the edit stands (the database checks every booking) and the calendars take it on their
    next load."""
    try:
        answer = await request.app[CALENDARS_KEY].resources_changed(org_id)
    except Exception as exc:
        answer = m.Failure(503, "unavailable", repr(exc))
    if isinstance(answer, m.Failure):
        log.warning("resource edit not applied to live slots", extra={"error": answer.message})


async def _location_columns(
    work: Work, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {**body, **({"organization_id": work.org_id} if current is None else {})}


LOCATIONS = Resource(
    entity="location",
    table=Locations,
    path="/v1/locations",
    tag=TAG,
    render=render_location,
    schema=LOCATION_OUT,
    create_schema=LOCATION,
    patch_schema=_patch(LOCATION),
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_location_columns,
    after_commit=resources_changed,
)
ROOMS = Resource(
    entity="room",
    table=Rooms,
    path="/v1/rooms",
    tag=TAG,
    render=render_room,
    schema=ROOM_OUT,
    create_schema=ROOM,
    patch_schema=_patch(ROOM),
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_placed,
    after_commit=resources_changed,
)
EQUIPMENT_RESOURCE = Resource(
    entity="equipment",
    table=Equipment,
    path="/v1/equipment",
    tag=TAG,
    render=render_equipment,
    schema=EQUIPMENT_OUT,
    create_schema=EQUIPMENT,
    patch_schema=_patch(EQUIPMENT),
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_placed,
    after_commit=resources_changed,
)


def _render_requirements(service_id: uuid.UUID, needs: store.Requirements) -> dict[str, Any]:
    return {
        "service_id": str(service_id),
        "room_kind": needs.room_kind,
        "equipment_ids": [str(e) for e in needs.equipment_ids],
    }


async def _require_service(service_id: uuid.UUID) -> None:
    if await store.get_row(Services, service_id) is None:
        raise not_found("service")


async def get_requirements(request: web.Request) -> web.Response:
    service_id = path_id(request, what="service")
    async with unit_of_work(request):
        await _require_service(service_id)
        needs = await store.service_requirements(service_id)
    return json_response(_render_requirements(service_id, needs))


async def put_requirements(request: web.Request) -> web.Response:
    """Replace what the service requires; bookings made before keep what they reserved."""
    service_id = path_id(request, what="service")
    body = await read_json(request, REQUIREMENTS)
    wanted = store.Requirements(
        body["room_kind"], tuple(uuid.UUID(e) for e in body["equipment_ids"])
    )
    async with unit_of_work(request) as work:
        await _require_service(service_id)
        before, after = await store.replace_service_requirements(work.org_id, service_id, wanted)
        await work.audit("service.requirements", "service", service_id, before.view(), after.view())
        work.emit_org("service.updated", {"id": service_id})
    await resources_changed(request, work.org_id)
    return json_response(_render_requirements(service_id, after))


_REQUIREMENTS_PATH = "/v1/services/{id}/requirements"
ENDPOINTS: list[Endpoint] = [
    *LOCATIONS.endpoints(),
    *ROOMS.endpoints(),
    *EQUIPMENT_RESOURCE.endpoints(),
    Endpoint(
        "GET",
        _REQUIREMENTS_PATH,
        get_requirements,
        CATALOG_READERS,
        "What a service requires: a room of a kind, pieces of equipment",
        TAG,
        response_schema=REQUIREMENTS_OUT,
        errors=(404,),
    ),
    Endpoint(
        "PUT",
        _REQUIREMENTS_PATH,
        put_requirements,
        ADMIN,
        "Replace what a service requires",
        TAG,
        request_schema=REQUIREMENTS,
        response_schema=REQUIREMENTS_OUT,
        errors=(404, 422),
    ),
]
