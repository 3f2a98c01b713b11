"""Organizations, their users and memberships."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, BigSerial, Boolean, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class Organizations(Table, tablename="organizations", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    name = Text()
    slug = Text()
    timezone = Text(default="UTC")
    language = Text(default="en")
    telerehab_requires_plan = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Users(Table, tablename="users", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    email = Text()
    password_hash = Text(null=True, default=None)
    display_name = Text(default="")
    is_superadmin = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Memberships(Table, tablename="memberships", db=ENGINE):
    """Primary key (organization_id, user_id); Piccolo knows one column of it."""

    organization_id = UUID(primary_key=True)
    user_id = UUID()
    role = Text()
    patient_id = UUID(null=True, default=None)
    specialist_id = UUID(null=True, default=None)
    disabled_at = Timestamptz(null=True, default=None)
    sessions_valid_after = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class DemoSeed(Table, tablename="demo_seed", db=ENGINE):
    id = BigSerial(primary_key=True)
    created_at = Timestamptz(default=TimestamptzNow())
    result = JSONB()
