"""A plan version's content (sessions of exercises with their dosage), its validation, and the
immutable snapshot a publish freezes.

The JSON Schema below is the one contract for content: the REST layer publishes it in OpenAPI and
validates requests with it, and `check_content` applies the same schema (plus the rules a schema
cannot express: the exercises must exist and be visible in the plan's scope) for every other
writer, such as the demo seed and clones.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from storage.telerehab._errors import Invalid
from storage.telerehab._exercises import exercises_by_id

MAX_SESSIONS = 14
MAX_EXERCISES = 30

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_UUID = {"type": "string", "pattern": UUID_PATTERN}

PRESCRIPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["exercise_id", "sets", "reps", "rest_s"],
    "additionalProperties": False,
    "properties": {
        "exercise_id": _UUID,
        "sets": {"type": "integer", "minimum": 1, "maximum": 20},
        "reps": {"type": "integer", "minimum": 1, "maximum": 100},
        "rest_s": {"type": "integer", "minimum": 0, "maximum": 600},
        "hold_s": {"type": "integer", "minimum": 0, "maximum": 120},
        "notes": {"type": "string", "maxLength": 500},
    },
}

CONTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["sessions"],
    "additionalProperties": False,
    "properties": {
        "sessions": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_SESSIONS,
            "items": {
                "type": "object",
                "required": ["exercises"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    "exercises": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": MAX_EXERCISES,
                        "items": PRESCRIPTION_SCHEMA,
                    },
                },
            },
        }
    },
}


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(CONTENT_SCHEMA)


def _shape_errors(content: object) -> dict[str, str]:
    """The schema's errors, keyed like the REST layer's (dotted paths)."""
    fields: dict[str, str] = {}
    for error in _validator().iter_errors(content):
        path = ".".join(str(p) for p in error.absolute_path) or "$"
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    fields.setdefault(f"{path}.{name}" if path != "$" else name, "is required")
            continue
        fields.setdefault(path, error.message[:200])
    return fields


def normalized(content: Mapping[str, Any]) -> dict[str, Any]:
    """The content with defaults filled in, as stored."""
    return {
        "sessions": [
            {
                "name": session.get("name") or f"Session {i + 1}",
                "exercises": [
                    {
                        "exercise_id": str(uuid.UUID(str(item["exercise_id"]))),
                        "sets": item["sets"],
                        "reps": item["reps"],
                        "rest_s": item["rest_s"],
                        "hold_s": item.get("hold_s", 0),
                        "notes": item.get("notes", ""),
                    }
                    for item in session["exercises"]
                ],
            }
            for i, session in enumerate(content["sessions"])
        ]
    }


def _referenced(content: Mapping[str, Any]) -> list[tuple[str, uuid.UUID]]:
    return [
        (f"sessions.{i}.exercises.{j}.exercise_id", uuid.UUID(item["exercise_id"]))
        for i, session in enumerate(content["sessions"])
        for j, item in enumerate(session["exercises"])
    ]


async def check_content(content: object, *, global_only: bool) -> dict[str, Any]:
    """Validated, normalized content; Invalid with every offending field otherwise.

    Each exercise must be live and visible in the transaction; a global plan (`global_only`) may use
    global exercises only, since no organization could see another's.
    """
    fields = _shape_errors(content)
    if fields:
        raise Invalid(fields)
    assert isinstance(content, Mapping)
    clean = normalized(content)
    refs = _referenced(clean)
    found = await exercises_by_id([ex_id for _, ex_id in refs])
    for path, ex_id in refs:
        exercise = found.get(ex_id)
        if exercise is None:
            fields[path] = "unknown exercise"
        elif global_only and not exercise.is_global:
            fields[path] = "a global plan may use global exercises only"
    if fields:
        raise Invalid(fields)
    return clean


async def build_snapshot(
    content: Mapping[str, Any],
    *,
    plan: Mapping[str, Any],
    version: int,
    language: str | None,
) -> tuple[dict[str, Any], str]:
    """The frozen form of a version: every exercise's definition (text, media, kinematics and
    their digest, translations) copied in, so later library edits change nothing assigned.
    Returns (snapshot, digest)."""
    refs = _referenced(content)
    found = await exercises_by_id([ex_id for _, ex_id in refs], language=language)
    missing = {path: "unknown exercise" for path, ex_id in refs if ex_id not in found}
    if missing:
        raise Invalid(missing)
    sessions = []
    for i, session in enumerate(content["sessions"]):
        items = []
        for j, item in enumerate(session["exercises"]):
            exercise = found[uuid.UUID(item["exercise_id"])]
            items.append({"position": j, **item, "exercise": exercise.definition()})
        sessions.append({"index": i, "name": session["name"], "exercises": items})
    snapshot = {
        "plan": {
            "id": str(plan["id"]),
            "name": plan["name"],
            "description": plan["description"],
            "plan_type": plan["plan_type"],
            "scope": plan["scope"],
        },
        "version": version,
        "language": language,
        "sessions": sessions,
    }
    digest = hashlib.sha256(orjson.dumps(snapshot, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return snapshot, digest
