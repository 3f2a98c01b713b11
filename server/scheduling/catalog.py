"""Specialties and services: the catalog resources without nested parts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.http import iso
from server.scheduling import schemas
from server.scheduling._web import Work
from server.scheduling.access import ADMIN, CATALOG_READERS
from server.scheduling.crud import Resource
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
        "created_at": iso(r["created_at"]),
        "updated_at": iso(r["updated_at"]),
    }


async def _service_columns(
    work: Work, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    values = {k: v for k, v in body.items() if k != "price"}
    if "price" in body:
        values["price_amount"] = body["price"]["amount"]
        values["price_currency"] = body["price"]["currency"]
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
    create_schema=schemas.SERVICE,
    patch_schema=schemas.SERVICE_PATCH,
    read=CATALOG_READERS,
    write=ADMIN,
    columns=_service_columns,
)

ENDPOINTS = SPECIALTIES.endpoints() + SERVICES.endpoints()
