"""A clinic's places and things: locations, their rooms and equipment, what a service requires,
and what each appointment reserves (m2026_12_06t01; the exclusion constraint and the trigger
that keeps the reservations are in the migration). Primary keys are (organization_id, id)."""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class Locations(Table, tablename="locations", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    address = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class Rooms(Table, tablename="rooms", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    location_id = UUID()
    name = Text()
    kind = Text()  # "gym", "treatment": what a service requires
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class Equipment(Table, tablename="equipment", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    location_id = UUID()
    name = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class ServiceRequirements(Table, tablename="service_requirements", db=ENGINE):
    """One requirement of a service: a room of `room_kind` or the piece `equipment_id`."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    service_id = UUID()
    room_kind = Text(null=True, default=None)
    equipment_id = UUID(null=True, default=None)


class AppointmentResources(Table, tablename="appointment_resources", db=ENGINE):
    """A room or piece of equipment an appointment holds; written by the database's trigger."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    appointment_id = UUID()
    room_id = UUID(null=True, default=None)
    equipment_id = UUID(null=True, default=None)
    share_key = UUID()
    starts_at = Timestamptz()
    ends_at = Timestamptz()
    live = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
