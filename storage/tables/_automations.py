"""Automations: saved patient segments, rules (trigger, conditions, actions) and their runs."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, Boolean, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class Segments(Table, tablename="segments", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    description = Text(default="")
    definition = JSONB()
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class AutomationRules(Table, tablename="automation_rules", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    description = Text(default="")
    trigger = Text()
    conditions = JSONB()
    actions = JSONB()
    enabled = Boolean(default=True)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class AutomationRuns(Table, tablename="automation_runs", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    rule_id = UUID()
    event_id = Text()
    event_type = Text()
    patient_id = UUID(null=True, default=None)
    status = Text(default="running")
    reason = Text(null=True, default=None)
    error = Text(null=True, default=None)
    rule_actions = JSONB()
    actions = JSONB()
    attempts = Integer(default=1)
    leased_until = Timestamptz(null=True, default=None)
    started_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)
