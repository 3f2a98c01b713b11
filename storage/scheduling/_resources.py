"""What a service requires (a room of a kind, pieces of equipment) and what appointments
reserve. The reservations themselves are written by the database (the `appointments_resources`
trigger of m2026_12_06t01), in the booking's own statement, so that the exclusion constraint on
`appointment_resources` is the proof for rooms and equipment as it is for specialists: nothing
here writes them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage.orm import first, rows
from storage.scheduling._errors import InvalidReference
from storage.tables import (
    Equipment,
    Locations,
    ServiceRequirements,
    SpecialistHours,
)


@dataclass(frozen=True, slots=True)
class Requirements:
    """A service's needs besides its specialist."""

    room_kind: str | None = None
    equipment_ids: tuple[uuid.UUID, ...] = ()

    def view(self) -> dict[str, Any]:
        return {"room_kind": self.room_kind, "equipment_ids": list(self.equipment_ids)}


async def require_location(location_id: uuid.UUID, field: str = "location_id") -> None:
    """The location exists in the bound tenant (row-level security hides another tenant's),
    else InvalidReference on `field`."""
    found = await first(
        Locations.select(Locations.id)
        .where((Locations.id == location_id) & Locations.deleted_at.is_null())
        .first()
    )
    if found is None:
        raise InvalidReference(field, "no such location")


async def require_equipment(ids: Iterable[uuid.UUID], field: str = "equipment_ids") -> None:
    wanted = set(ids)
    if not wanted:
        return
    found = await rows(
        Equipment.select(Equipment.id).where(
            Equipment.id.is_in(list(wanted)) & Equipment.deleted_at.is_null()
        )
    )
    if {r["id"] for r in found} != wanted:
        raise InvalidReference(field, "no such equipment")


async def service_requirements(service_id: uuid.UUID) -> Requirements:
    found = await rows(
        ServiceRequirements.select(
            ServiceRequirements.room_kind, ServiceRequirements.equipment_id
        ).where(ServiceRequirements.service_id == service_id)
    )
    kind = next((r["room_kind"] for r in found if r["room_kind"] is not None), None)
    gear = sorted(r["equipment_id"] for r in found if r["equipment_id"] is not None)
    return Requirements(kind, tuple(gear))


async def replace_service_requirements(
    organization_id: uuid.UUID, service_id: uuid.UUID, wanted: Requirements
) -> tuple[Requirements, Requirements]:
    """Set what the service requires (the caller checked the service); (before, after).
    Raises InvalidReference for equipment not in the tenant. Bookings made before keep what
    they reserved: a requirement applies from the next booking on."""
    await require_equipment(wanted.equipment_ids)
    before = await service_requirements(service_id)
    await ServiceRequirements.delete().where(ServiceRequirements.service_id == service_id)
    needs: list[dict[str, Any]] = [{"equipment_id": e} for e in wanted.equipment_ids]
    if wanted.room_kind:
        needs.append({"room_kind": wanted.room_kind})
    new = [
        ServiceRequirements(organization_id=organization_id, service_id=service_id, **values)
        for values in needs
    ]
    if new:
        await ServiceRequirements.insert(*new)
    return before, await service_requirements(service_id)


async def place_specialist(specialist_id: uuid.UUID, location_id: uuid.UUID) -> None:
    """Every weekly interval of the specialist at `location_id` (the demo seeder's shortcut;
    the API sets a location per interval)."""
    await SpecialistHours.update({SpecialistHours.location_id: location_id}).where(
        SpecialistHours.specialist_id == specialist_id
    )


@dataclass(frozen=True, slots=True)
class ResourceBook:
    """One organization's rooms and equipment as the calendar shard needs them to list slots:
    what each service requires, where rooms, equipment and specialists are, and the live
    reservations (`taken`: resource id -> [(start, end)], ending after the time it was read)."""

    needs: dict[uuid.UUID, Requirements]
    rooms: tuple[tuple[uuid.UUID, str, uuid.UUID], ...]  # (id, kind, location_id)
    equipment_at: dict[uuid.UUID, uuid.UUID]
    # specialist -> (IANA zone, ((weekday, start_min, end_min, location_id), ...))
    places: dict[uuid.UUID, tuple[str, tuple[tuple[int, int, int, uuid.UUID], ...]]]
    taken: dict[uuid.UUID, list[tuple[datetime, datetime]]]


EMPTY_BOOK = ResourceBook({}, (), {}, {}, {})


async def load_resource_book(
    conn: asyncpg.Connection, organization_id: uuid.UUID, since: datetime
) -> ResourceBook:
    """The organization's book, on the caller's tenant transaction (four short reads; an
    organization without requirements costs the first one only)."""
    need_rows = await conn.fetch(
        "SELECT service_id, room_kind, equipment_id FROM service_requirements"
        " WHERE organization_id = $1",
        organization_id,
    )
    if not need_rows:
        return EMPTY_BOOK
    kinds: dict[uuid.UUID, str | None] = {}
    gear: dict[uuid.UUID, list[uuid.UUID]] = {}
    for r in need_rows:
        kinds.setdefault(r["service_id"], None)
        gear.setdefault(r["service_id"], [])
        if r["room_kind"] is not None:
            kinds[r["service_id"]] = r["room_kind"]
        else:
            gear[r["service_id"]].append(r["equipment_id"])
    needs = {s: Requirements(kinds[s], tuple(sorted(gear[s]))) for s in kinds}
    rooms = await conn.fetch(
        "SELECT id, kind, location_id FROM rooms WHERE organization_id = $1"
        " AND deleted_at IS NULL ORDER BY name, id",
        organization_id,
    )
    equipment = await conn.fetch(
        "SELECT id, location_id FROM equipment WHERE organization_id = $1", organization_id
    )
    hours = await conn.fetch(
        """SELECT h.specialist_id, s.timezone, h.weekday, h.start_min, h.end_min, h.location_id
           FROM specialist_hours h
           JOIN specialists s ON s.organization_id = h.organization_id AND s.id = h.specialist_id
           WHERE h.organization_id = $1 AND h.location_id IS NOT NULL""",
        organization_id,
    )
    places: dict[uuid.UUID, tuple[str, tuple[tuple[int, int, int, uuid.UUID], ...]]] = {}
    for h in hours:
        zone, spans = places.get(h["specialist_id"], (h["timezone"], ()))
        span = (h["weekday"], h["start_min"], h["end_min"], h["location_id"])
        places[h["specialist_id"]] = (zone, (*spans, span))
    reserved = await conn.fetch(
        """SELECT coalesce(room_id, equipment_id) AS resource_id, starts_at, ends_at
           FROM appointment_resources
           WHERE organization_id = $1 AND live AND ends_at > $2
           ORDER BY starts_at""",
        organization_id,
        since,
    )
    taken: dict[uuid.UUID, list[tuple[datetime, datetime]]] = {}
    for r in reserved:
        taken.setdefault(r["resource_id"], []).append((r["starts_at"], r["ends_at"]))
    return ResourceBook(
        needs,
        tuple((r["id"], r["kind"], r["location_id"]) for r in rooms),
        {e["id"]: e["location_id"] for e in equipment},
        places,
        taken,
    )
