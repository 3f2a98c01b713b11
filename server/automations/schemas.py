"""JSON Schemas of the automations and segments endpoints: the request bodies (the vocabulary
itself lives with its compiler and checker, storage/automations) and the responses."""

from __future__ import annotations

from typing import Any

from storage.automations import DEFINITION_SCHEMA, RULE_FIELDS

Schema = dict[str, Any]

_UUID: Schema = {"type": "string", "format": "uuid"}
_INSTANT: Schema = {"type": "string", "format": "date-time"}
_NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
_DESCRIPTION: Schema = {"type": "string", "maxLength": 1000}


def _object(properties: Schema, required: tuple[str, ...] = ()) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def _page(item: Schema) -> Schema:
    return _object(
        {"data": {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}},
        ("data", "next_cursor"),
    )


SEGMENT_FIELDS: Schema = {
    "name": _NAME,
    "description": _DESCRIPTION,
    "definition": DEFINITION_SCHEMA,
}
NEW_SEGMENT = _object(SEGMENT_FIELDS, ("name", "definition"))
SEGMENT_PATCH = {**_object(SEGMENT_FIELDS), "minProperties": 1}

NEW_RULE = _object(RULE_FIELDS, ("name", "trigger", "actions"))
RULE_PATCH = {**_object(RULE_FIELDS), "minProperties": 1}

SEGMENT = _object(
    {
        "id": _UUID,
        "name": _NAME,
        "description": _DESCRIPTION,
        "definition": {"type": "object"},
        "created_at": _INSTANT,
        "updated_at": _INSTANT,
    },
    ("id", "name", "description", "definition", "created_at", "updated_at"),
)
SEGMENT_PAGE = _page(SEGMENT)
MEMBER = _object(
    {
        "id": _UUID,
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "created_at": _INSTANT,
    },
    ("id", "first_name", "last_name", "created_at"),
)
MEMBER_PAGE = _page(MEMBER)
COUNT = _object(
    {"segment_id": _UUID, "count": {"type": "integer", "minimum": 0}, "at": _INSTANT},
    ("segment_id", "count", "at"),
)

RULE = _object(
    {
        "id": _UUID,
        "name": _NAME,
        "description": _DESCRIPTION,
        "trigger": {"type": "string"},
        "conditions": {"type": "array", "items": {"type": "object"}},
        "actions": {"type": "array", "items": {"type": "object"}},
        "enabled": {"type": "boolean"},
        "created_at": _INSTANT,
        "updated_at": _INSTANT,
    },
    ("id", "name", "description", "trigger", "conditions", "actions", "enabled", "created_at",
     "updated_at"),
)  # fmt: skip
RULE_PAGE = _page(RULE)
RUN = _object(
    {
        "id": _UUID,
        "rule_id": _UUID,
        "event_id": {"type": "string"},
        "event_type": {"type": "string"},
        "patient_id": {"anyOf": [_UUID, {"type": "null"}]},
        "status": {"enum": ["running", "succeeded", "failed", "skipped"]},
        "reason": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
        "actions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string"},
                    "status": {"enum": ["succeeded", "failed", "skipped"]},
                },
                "required": ["kind", "status"],
            },
        },
        "attempts": {"type": "integer", "minimum": 1},
        "started_at": _INSTANT,
        "finished_at": {"anyOf": [_INSTANT, {"type": "null"}]},
    },
    ("id", "rule_id", "event_id", "event_type", "patient_id", "status", "reason", "error",
     "actions", "attempts", "started_at", "finished_at"),
)  # fmt: skip
RUN_PAGE = _page(RUN)
