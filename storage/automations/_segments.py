"""Segments: an organization's saved patient filters, and the SQL they compile to.

A definition is `{"all": [...]}` or `{"any": [...]}` of conditions from a fixed vocabulary, one
group deep (`{"any": [{"all": [...]}, ...]}`). Every condition is `{"field", "op", "value"}`:

- `days_since_last_visit` (`>=`, `>`, `<=`, `<`; whole days): since the latest checked-in,
  started or completed appointment, or completed telerehab session. A patient with none counts
  as infinitely long ago (matches `>=`/`>`, never `<=`/`<`).
- `plan_adherence` (`<`, `<=`, `>=`, `>`; 0..1): completed sessions / sessions scheduled so far
  over the patient's active plan assignments (the SQL function `automation_plan_adherence`). A
  patient with nothing scheduled yet has no adherence and matches no adherence condition.
- `has_upcoming_appointment`, `has_active_plan`, `consent_marketing` (`=`; boolean).
- `created_within_days` (`<=`; days): the patient record is at most that old.

Deleted and erased patients never match. Field names and operators pick fixed SQL text from the
tables below; every value is a query parameter, never spliced into the SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import asyncpg
from jsonschema import Draft202012Validator
from piccolo.columns.combination import WhereRaw

from storage.automations._sql import Params, schema_errors
from storage.care_team import treats_condition
from storage.errors import Conflict, Invalid, NotFound
from storage.orm import first, rows
from storage.tables._automations import AutomationRules, Segments

_COMPARE = ["<", "<=", ">=", ">"]


def _condition_schema(field: str, ops: list[str], value: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"field": {"const": field}, "op": {"enum": ops}, "value": dict(value)},
        "required": ["field", "op", "value"],
        "additionalProperties": False,
    }


_DAYS = {"type": "integer", "minimum": 0, "maximum": 3650}
_BOOL = {"type": "boolean"}
CONDITIONS: dict[str, dict[str, Any]] = {
    "days_since_last_visit": _condition_schema("days_since_last_visit", _COMPARE, _DAYS),
    "plan_adherence": _condition_schema(
        "plan_adherence", _COMPARE, {"type": "number", "minimum": 0, "maximum": 1}
    ),
    "has_upcoming_appointment": _condition_schema("has_upcoming_appointment", ["="], _BOOL),
    "has_active_plan": _condition_schema("has_active_plan", ["="], _BOOL),
    "consent_marketing": _condition_schema("consent_marketing", ["="], _BOOL),
    "created_within_days": _condition_schema("created_within_days", ["<="], _DAYS),
}
_CONDITION = {"oneOf": list(CONDITIONS.values())}
_MAX_ITEMS = 20


def _group(items: Mapping[str, Any]) -> dict[str, Any]:
    array = {"type": "array", "minItems": 1, "maxItems": _MAX_ITEMS, "items": dict(items)}
    return {
        "type": "object",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {"all": array, "any": array},
        "additionalProperties": False,
    }


# One level of nesting, spelled out (no $ref), so the schema embeds as is in the OpenAPI document.
DEFINITION_SCHEMA: dict[str, Any] = _group({"anyOf": [_CONDITION, _group(_CONDITION)]})
_VALIDATOR = Draft202012Validator(DEFINITION_SCHEMA)


def check_definition(definition: Any, field: str = "definition") -> dict[str, Any]:
    """The definition if it is one of the vocabulary's; Invalid naming the offending paths."""
    fields = schema_errors(_VALIDATOR, definition, field)
    if fields:
        raise Invalid(fields)
    return dict(definition)


# --- compilation ---------------------------------------------------------------------------

_LAST_VISIT_DAYS = "floor(extract(epoch FROM {now} - automation_last_visit(p.id, {now})) / 86400)"
_UPCOMING = """EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = p.id
                 AND a.status IN ('booked', 'confirmed') AND a.starts_at > {now})"""
_ACTIVE_PLAN = """EXISTS (SELECT 1 FROM plan_assignments pa WHERE pa.patient_id = p.id
                    AND pa.status = 'active')"""
# What a patient with no visit at all (an infinite number of days) answers to each operator.
_NEVER_VISITED = {">=": "true", ">": "true", "<=": "false", "<": "false"}
_SQL_OP = {"<": "<", "<=": "<=", ">=": ">=", ">": ">", "=": "="}
# Patients a segment can ever hold.
LIVE_PATIENT = "p.deleted_at IS NULL AND p.erased_at IS NULL"
_NOW = "<now>"  # where the instant's placeholder goes; no fragment contains it otherwise


def _compile_condition(c: Mapping[str, Any], params: Params, now: str) -> str:
    field, op, value = c["field"], _SQL_OP[c["op"]], c["value"]
    if field == "days_since_last_visit":
        days = _LAST_VISIT_DAYS.format(now=now)
        return f"coalesce({days} {op} {params.add(int(value))}::int, {_NEVER_VISITED[op]})"
    if field == "plan_adherence":
        rate = f"automation_plan_adherence(p.id, {now})::float8"
        return f"coalesce({rate} {op} {params.add(float(value))}::float8, false)"
    if field == "has_upcoming_appointment":
        return f"(({_UPCOMING.format(now=now)}) = {params.add(bool(value))}::boolean)"
    if field == "has_active_plan":
        return f"(({_ACTIVE_PLAN}) = {params.add(bool(value))}::boolean)"
    if field == "consent_marketing":
        return f"(p.consent_marketing = {params.add(bool(value))}::boolean)"
    if field == "created_within_days":
        return f"(p.created_at >= {now} - make_interval(days => {params.add(int(value))}::int))"
    raise Invalid({"definition": f"unknown condition field {field!r}"})


def _compile_group(group: Mapping[str, Any], params: Params, now: str) -> str:
    ((kind, items),) = group.items()
    joiner = " AND " if kind == "all" else " OR "
    parts = [
        _compile_group(item, params, now) if "field" not in item
        else _compile_condition(item, params, now)
        for item in items
    ]  # fmt: skip
    return "(" + joiner.join(parts) + ")"


def compile_filter(definition: Mapping[str, Any], params: Params, now: datetime) -> str:
    """SQL over `patients p`: true for the live patients the definition holds at `now`. The
    values go to `params`; the text is made of the vocabulary's fixed fragments only."""
    checked = check_definition(definition)
    body = _compile_group(checked, params, _NOW)
    # `now` becomes a parameter only when a condition reads it (an unused one has no type).
    if _NOW in body:
        body = body.replace(_NOW, f"{params.add(now)}::timestamptz")
    return f"({LIVE_PATIENT} AND {body})"


# --- segments ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    id: uuid.UUID
    name: str
    description: str
    definition: dict[str, Any]
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


_S = Segments
_COLUMNS = (
    _S.id, _S.name, _S.description, _S.definition, _S.created_by, _S.created_at, _S.updated_at,
)  # fmt: skip


def _segment(row: Mapping[str, Any]) -> Segment:
    return Segment(**dict(row))


async def get_segment(segment_id: uuid.UUID) -> Segment:
    found = await first(
        _S.select(*_COLUMNS).where((_S.id == segment_id) & _S.deleted_at.is_null()).first()
    )
    if found is None:
        raise NotFound("segment")
    return _segment(found)


async def list_segments(limit: int, after: tuple[datetime, uuid.UUID] | None) -> list[Segment]:
    """Live segments in creation order, after the (created_at, id) of the previous page."""
    query = _S.select(*_COLUMNS).where(_S.deleted_at.is_null())
    if after is not None:
        query = query.where(
            (_S.created_at > after[0]) | ((_S.created_at == after[0]) & (_S.id > after[1]))
        )
    found = await rows(query.order_by(_S.created_at, _S.id).limit(limit))
    return [_segment(r) for r in found]


async def segments_exist(ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of `ids` are live segments of the organization."""
    if not ids:
        return set()
    found = await rows(_S.select(_S.id).where(_S.id.is_in(list(ids)) & _S.deleted_at.is_null()))
    return {r["id"] for r in found}


async def _name_taken(name: str, but: uuid.UUID | None = None) -> None:
    """Conflict `name_taken` for another live segment of that name (any case); the unique
    index answers the same to a concurrent creation."""
    where: Any = _S.deleted_at.is_null() & WhereRaw("lower(name) = lower({})", name)
    if but is not None:
        where &= _S.id != but
    if await _S.exists().where(where):
        raise Conflict("a segment with this name exists", {"name": name}, code="name_taken")


async def create_segment(
    org_id: uuid.UUID, data: Mapping[str, Any], created_by: uuid.UUID | None
) -> Segment:
    definition = check_definition(data.get("definition"))
    await _name_taken(data["name"])
    new = _S(
        organization_id=org_id,
        name=data["name"],
        description=data.get("description", ""),
        definition=definition,
        created_by=created_by,
    )
    return _segment((await rows(_S.insert(new).returning(*_COLUMNS)))[0])


async def update_segment(segment_id: uuid.UUID, data: Mapping[str, Any]) -> Segment:
    await get_segment(segment_id)
    values: dict[Any, Any] = {_S.updated_at: datetime.now(UTC)}
    if "name" in data:
        await _name_taken(data["name"], but=segment_id)
        values[_S.name] = data["name"]
    if "description" in data:
        values[_S.description] = data["description"]
    if "definition" in data:
        values[_S.definition] = check_definition(data["definition"])
    found = await rows(
        _S.update(values)
        .where((_S.id == segment_id) & _S.deleted_at.is_null())
        .returning(*_COLUMNS)
    )
    return _segment(found[0])


async def delete_segment(segment_id: uuid.UUID) -> None:
    """Soft delete; Conflict `segment_in_use` while a live rule names it in a condition."""
    await get_segment(segment_id)
    users = await rows(
        AutomationRules.select(AutomationRules.id, AutomationRules.conditions).where(
            AutomationRules.deleted_at.is_null()
        )
    )
    using = [str(r["id"]) for r in users if str(segment_id) in _segments_named(r["conditions"])]
    if using:
        raise Conflict(
            "live automation rules use this segment", {"rule_ids": using}, code="segment_in_use"
        )
    await _S.update({_S.deleted_at: datetime.now(UTC)}).where(_S.id == segment_id)


def _segments_named(conditions: Any) -> set[str]:
    named: set[str] = set()
    for c in conditions if isinstance(conditions, list) else []:
        if isinstance(c, dict):
            for key in ("patient_in_segment", "patient_not_in_segment"):
                if isinstance(c.get(key), str):
                    named.add(c[key])
    return named


# --- members -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """What a member list shows: the id, the name staff see anyway, when the record was made."""

    id: uuid.UUID
    first_name: str
    last_name: str
    created_at: datetime


# Who asks: "all" (an admin: every patient of the organization) or a specialist's id (the
# patients they treat, storage/care_team.py's rule).
Audience = Literal["all"] | uuid.UUID


def _audience(audience: Audience, params: Params) -> str:
    if audience == "all":
        return "true"
    return treats_condition("p.id", params.add(audience))


async def members(
    conn: asyncpg.Connection,
    definition: Mapping[str, Any],
    *,
    now: datetime,
    audience: Audience,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Member]:
    """Up to `limit` members in creation order, after the previous page's (created_at, id)."""
    params = Params()
    where = [compile_filter(definition, params, now), _audience(audience, params)]
    if after is not None:
        where.append(f"(p.created_at, p.id) > ({params.add(after[0])}, {params.add(after[1])})")
    sql = f"""SELECT p.id, p.first_name, p.last_name, p.created_at FROM patients p
              WHERE {" AND ".join(where)}
              ORDER BY p.created_at, p.id LIMIT {params.add(limit)}"""
    return [Member(**dict(r)) for r in await conn.fetch(sql, *params.values)]


async def count_members(
    conn: asyncpg.Connection, definition: Mapping[str, Any], *, now: datetime, audience: Audience
) -> int:
    params = Params()
    where = f"{compile_filter(definition, params, now)} AND {_audience(audience, params)}"
    count: int = await conn.fetchval(
        f"SELECT count(*) FROM patients p WHERE {where}", *params.values
    )
    return count


async def is_member(
    conn: asyncpg.Connection,
    definition: Mapping[str, Any],
    patient_id: uuid.UUID,
    *,
    now: datetime,
) -> bool:
    params = Params()
    where = compile_filter(definition, params, now)
    found = await conn.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM patients p WHERE p.id = {params.add(patient_id)} "
        f"AND {where})",
        *params.values,
    )
    return bool(found)
