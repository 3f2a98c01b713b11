"""Specialties and services: the catalog resources without nested parts.

A service's duration, buffers and `active` shape the slots of the calendars booking it, so its
edits are commands to the calendar shard owning the organization: it writes them and pushes
the slot changes before the edit is acknowledged (actors/calendar/_rules.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from actors.calendar import caller_of
from actors.calendar import messages as m
from server.http import iso, json_response, path_id, read_json
from server.scheduling import schemas
from server.scheduling._web import Work, unit_of_work
from server.scheduling.access import ADMIN, CATALOG_READERS
from server.scheduling.crud import Resource, rule_edit
from storage.tables import Services, Specialties

TAG = "scheduling: catalog"


def render_specialty(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "name": r["name"],
        "created_at": iso(r["created_at"]),
        "updated_at": iso(r["updated_at"]),
    }


def render_service(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "name": r["name"],
        "duration_min": r["duration_min"],
        "buffer_before_min": r["buffer_before_min"],
        "buffer_after_min": r["buffer_after_min"],
        "modality": r["modality"],
        "price": {"amount": r["price_amount"], "currency": r["price_currency"]},
        "active": r["active"],
        "capacity": r["capacity"],
        "created_at": iso(r["created_at"]),
        "updated_at": iso(r["updated_at"]),
    }


def _service_values(body: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in body.items() if k != "price"}
    if "price" in body:
        values["price_amount"] = body["price"]["amount"]
        values["price_currency"] = body["price"]["currency"]
    return values


async def _service_columns(
    work: Work, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    values = _service_values(body)
    if current is None:
        values.setdefault("modality", "in_clinic")
        values["organization_id"] = work.org_id
    return values


async def _specialty_columns(
    work: Work, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    return {**body, **({"organization_id": work.org_id} if current is None else {})}


SPECIALTIES = Resource(
    entity="specialty",
    table=Specialties,
    path="/v1/specialties",
    tag=TAG,
    render=render_specialty,
    schema=schemas.SPECIALTY_OUT,
    create_schema=schemas.SPECIALTY,
    patch_schema=schemas.SPECIALTY,
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_specialty_columns,
)
SERVICES = Resource(
    entity="service",
    table=Services,
    path="/v1/services",
    tag=TAG,
    render=render_service,
    schema=schemas.SERVICE_OUT,
    create_schema=schemas.SERVICE,
    patch_schema=schemas.SERVICE_PATCH,
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_service_columns,
)


async def patch_service(request: web.Request) -> web.Response:
    service_id = path_id(request, what="service")
    body = await read_json(request, schemas.SERVICE_PATCH)
    async with unit_of_work(request) as work:
        command = m.EditService(
            work.org_id, caller_of(work.principal), work.actor, service_id, _service_values(body)
        )
    edited = await rule_edit(request, command, "service.updated", {"id": service_id})
    return json_response(render_service(edited.after))


async def delete_service(request: web.Request) -> web.Response:
    service_id = path_id(request, what="service")
    async with unit_of_work(request) as work:
        command = m.DeleteService(work.org_id, caller_of(work.principal), work.actor, service_id)
    await rule_edit(request, command, "service.deleted", {"id": service_id})
    return web.Response(status=204)


ENDPOINTS = SPECIALTIES.endpoints() + SERVICES.endpoints(patch=patch_service, delete=delete_service)
