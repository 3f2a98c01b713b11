"""Automation rules: a trigger (one event type, exactly), conditions, actions.

Conditions, all of which must hold:
- `{"field": "status", "equals": "no_show"}`: the event's data has that value at that key;
- `{"patient_in_segment": id}` / `{"patient_not_in_segment": id}`: the event's patient is (not)
  a member of the segment when the rule runs.

Actions, in order: `call_webhook`, `assign_plan`, `send_notification` (actors/automations).
`request_form` and `add_to_waitlist` are known kinds whose features do not exist yet: a rule
naming one is refused with 422 `action_unavailable`, so no rule is saved that could never run.

Loop guard: a trigger is never an `automation.*` event (what the actions publish), here and in a
CHECK of the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jsonschema import Draft202012Validator

from storage.automations._segments import segments_exist
from storage.automations._sql import schema_errors
from storage.errors import Invalid, NotFound
from storage.orm import first, rows
from storage.tables._automations import AutomationRules
from storage.telerehab import FREQUENCY_SCHEMA, Scope, get_plan, get_version
from storage.telerehab import NotFound as PlanNotFound

UUID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}
TRIGGER_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": 100,
    "pattern": "^[a-z][a-z0-9_]*\\.[a-z][a-z0-9_.]*$",
}
LOOP_PREFIX = "automation."

AVAILABLE_ACTIONS = ("call_webhook", "assign_plan", "send_notification")
# Known, but their features (forms, issue 18; the waitlist, issue 17) do not exist yet.
UNAVAILABLE_ACTIONS = ("request_form", "add_to_waitlist")


def _object(properties: Mapping[str, Any], required: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(properties),
        "required": list(required),
        "additionalProperties": False,
    }


_EVENT_CONDITION = _object(
    {
        "field": {"type": "string", "pattern": "^[a-z_][a-z0-9_]{0,63}$"},
        "equals": {"type": ["string", "number", "boolean", "null"], "maxLength": 200},
    },
    ("field", "equals"),
)
_IN_SEGMENT = _object({"patient_in_segment": UUID_SCHEMA}, ("patient_in_segment",))
_NOT_IN_SEGMENT = _object({"patient_not_in_segment": UUID_SCHEMA}, ("patient_not_in_segment",))
CONDITIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "maxItems": 20,
    "items": {"oneOf": [_EVENT_CONDITION, _IN_SEGMENT, _NOT_IN_SEGMENT]},
}

_KIND = {"enum": [*AVAILABLE_ACTIONS, *UNAVAILABLE_ACTIONS]}
_ACTION_BODIES: dict[str, dict[str, Any]] = {
    "call_webhook": _object({"kind": _KIND}, ("kind",)),
    "assign_plan": _object(
        {
            "kind": _KIND,
            "plan_id": UUID_SCHEMA,
            "plan_version": {"type": "integer", "minimum": 1},
            "frequency": FREQUENCY_SCHEMA,
            "duration_days": {"type": "integer", "minimum": 1, "maximum": 730},
        },
        ("kind", "plan_id", "frequency"),
    ),
    "send_notification": _object(
        {"kind": _KIND, "template": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"}},
        ("kind", "template"),
    ),
}
ACTIONS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 10,
    "items": {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": _KIND},
        "allOf": [
            {"if": {"properties": {"kind": {"const": kind}}}, "then": body}
            for kind, body in _ACTION_BODIES.items()
        ],
    },
}
RULE_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": {"type": "string", "maxLength": 1000},
    "trigger": TRIGGER_SCHEMA,
    "conditions": CONDITIONS_SCHEMA,
    "actions": ACTIONS_SCHEMA,
    "enabled": {"type": "boolean"},
}
RULE_SCHEMA: dict[str, Any] = _object(RULE_FIELDS, ("name", "trigger", "actions"))
_VALIDATOR = Draft202012Validator(RULE_SCHEMA)


class ActionUnavailable(Invalid):
    """A rule names an action whose feature this installation does not have (422)."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(fields, "the rule names an action that is not available")
        self.code = "action_unavailable"


@dataclass(frozen=True, slots=True)
class Rule:
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str
    trigger: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    enabled: bool
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


_R = AutomationRules
_COLUMNS = (
    _R.id, _R.organization_id, _R.name, _R.description, _R.trigger, _R.conditions, _R.actions,
    _R.enabled, _R.created_by, _R.created_at, _R.updated_at,
)  # fmt: skip


def _rule(row: Mapping[str, Any]) -> Rule:
    return Rule(**dict(row))


async def check_rule(data: Mapping[str, Any]) -> dict[str, Any]:
    """The whole rule (name, trigger, conditions, actions, ...) if it can run in this
    organization: its shape, the loop guard, available actions, live segments, and plans with a
    published version. Invalid (ActionUnavailable for a missing feature) naming the fields."""
    fields = schema_errors(_VALIDATOR, data, "$")
    if fields:
        raise Invalid({k.removeprefix("$."): v for k, v in fields.items()})
    if data["trigger"].startswith(LOOP_PREFIX):
        raise Invalid({"trigger": "automation events never trigger rules (loop guard)"})
    unavailable = {
        f"actions.{i}.kind": f"{a['kind']} is not available in this installation"
        for i, a in enumerate(data["actions"])
        if a["kind"] in UNAVAILABLE_ACTIONS
    }
    if unavailable:
        raise ActionUnavailable(unavailable)
    conditions = list(data.get("conditions", []))
    named = {
        f"conditions.{i}": uuid.UUID(c.get("patient_in_segment") or c["patient_not_in_segment"])
        for i, c in enumerate(conditions)
        if "field" not in c
    }
    live = await segments_exist(list(named.values()))
    fields = {path: "unknown segment" for path, sid in named.items() if sid not in live}
    for i, action in enumerate(data["actions"]):
        if action["kind"] == "assign_plan":
            problem = await _plan_problem(action)
            if problem:
                fields[f"actions.{i}.plan_id"] = problem
    if fields:
        raise Invalid(fields)
    return {**dict(data), "conditions": conditions}


async def _plan_problem(action: Mapping[str, Any]) -> str | None:
    try:
        plan = await get_plan(uuid.UUID(action["plan_id"]))
    except PlanNotFound:
        return "unknown treatment plan"
    if plan.scope is Scope.CUSTOM:
        return "is one patient's custom plan"
    try:
        version = await get_version(plan.id, action.get("plan_version"))
    except PlanNotFound:
        return "the plan has no such published version"
    if not version.status.frozen:
        return "the version is a draft; publish it first"
    return None


async def get_rule(rule_id: uuid.UUID) -> Rule:
    found = await first(
        _R.select(*_COLUMNS).where((_R.id == rule_id) & _R.deleted_at.is_null()).first()
    )
    if found is None:
        raise NotFound("automation rule")
    return _rule(found)


async def list_rules(limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[Rule]:
    query = _R.select(*_COLUMNS).where(_R.deleted_at.is_null())
    if after is not None:
        query = query.where(
            (_R.created_at > after[0]) | ((_R.created_at == after[0]) & (_R.id > after[1]))
        )
    return [_rule(r) for r in await rows(query.order_by(_R.created_at, _R.id).limit(limit))]


async def rules_for(trigger: str) -> list[Rule]:
    """The enabled rules an event of this type triggers, oldest first."""
    found = await rows(
        _R.select(*_COLUMNS)
        .where((_R.trigger == trigger) & _R.enabled.eq(True) & _R.deleted_at.is_null())
        .order_by(_R.created_at, _R.id)
    )
    return [_rule(r) for r in found]


async def live_triggers() -> set[str]:
    """The event types that trigger at least one enabled rule (a batch's cheap first question)."""
    found = await rows(
        _R.select(_R.trigger).where(_R.enabled.eq(True) & _R.deleted_at.is_null()).distinct()
    )
    return {r["trigger"] for r in found}


async def rules_by_id(rule_ids: Sequence[uuid.UUID]) -> list[Rule]:
    """These rules, deleted and disabled ones too (to finish the runs they began)."""
    if not rule_ids:
        return []
    found = await rows(_R.select(*_COLUMNS).where(_R.id.is_in(list(rule_ids))))
    return [_rule(r) for r in found]


async def create_rule(
    org_id: uuid.UUID, data: Mapping[str, Any], created_by: uuid.UUID | None
) -> Rule:
    checked = await check_rule(data)
    new = _R(
        organization_id=org_id,
        name=checked["name"],
        description=checked.get("description", ""),
        trigger=checked["trigger"],
        conditions=checked["conditions"],
        actions=checked["actions"],
        enabled=checked.get("enabled", True),
        created_by=created_by,
    )
    return _rule((await rows(_R.insert(new).returning(*_COLUMNS)))[0])


async def update_rule(rule_id: uuid.UUID, patch: Mapping[str, Any]) -> Rule:
    """Apply a partial change; the rule as a whole is checked again."""
    current = await get_rule(rule_id)
    merged = {
        "name": current.name,
        "description": current.description,
        "trigger": current.trigger,
        "conditions": current.conditions,
        "actions": current.actions,
        "enabled": current.enabled,
        **dict(patch),
    }
    checked = await check_rule(merged)
    found = await rows(
        _R.update(
            {
                _R.name: checked["name"],
                _R.description: checked["description"],
                _R.trigger: checked["trigger"],
                _R.conditions: checked["conditions"],
                _R.actions: checked["actions"],
                _R.enabled: checked["enabled"],
                _R.updated_at: datetime.now(UTC),
            }
        )
        .where((_R.id == rule_id) & _R.deleted_at.is_null())
        .returning(*_COLUMNS)
    )
    return _rule(found[0])


async def delete_rule(rule_id: uuid.UUID) -> None:
    """Soft delete: its runs stay readable."""
    await get_rule(rule_id)
    now = datetime.now(UTC)
    await _R.update({_R.deleted_at: now, _R.enabled: False, _R.updated_at: now}).where(
        _R.id == rule_id
    )


async def rule_exists(rule_id: uuid.UUID) -> bool:
    """Whether the organization has or had the rule (a deleted one too: its runs stay)."""
    found: bool = await _R.exists().where(_R.id == rule_id)
    return found
