"""JSON Schemas of the clinical notes and follow-ups endpoints (requests validated with them,
OpenAPI shows them)."""

from __future__ import annotations

from typing import Any

from storage.follow_ups import MAX_REASON, FollowUpState
from storage.notes import MAX_BODY, Visibility

Schema = dict[str, Any]

_UUID: Schema = {"type": "string", "format": "uuid"}
_INSTANT: Schema = {"type": "string", "format": "date-time"}
_DATE: Schema = {"type": "string", "format": "date"}
_NULLABLE_UUID: Schema = {"anyOf": [_UUID, {"type": "null"}]}
_VISIBILITY: Schema = {"enum": [v.value for v in Visibility]}
_BODY: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_BODY}


def _object(properties: Schema, required: tuple[str, ...], **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def _page(item: Schema) -> Schema:
    return _object(
        {"data": {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}},
        ("data", "next_cursor"),
    )


# --- notes ----------------------------------------------------------------------------------

NEW_NOTE = _object(
    {"body": _BODY, "visibility": _VISIBILITY, "appointment_id": _NULLABLE_UUID}, ("body",)
)
NEW_APPOINTMENT_NOTE = _object({"body": _BODY, "visibility": _VISIBILITY}, ("body",))
EDIT_NOTE = _object(
    {
        "body": _BODY,
        "visibility": _VISIBILITY,
        # The version the edit was made on: a newer one answers 409 `stale_version`.
        "version": {"type": "integer", "minimum": 1},
    },
    (),
    anyOf=[{"required": ["body"]}, {"required": ["visibility"]}],
)
NOTE = _object(
    {
        "id": _UUID,
        "patient_id": _UUID,
        "appointment_id": _NULLABLE_UUID,
        "author_user_id": _UUID,
        "author_role": {"enum": ["admin", "specialist"]},
        "author_specialist_id": _NULLABLE_UUID,
        "author_name": {"type": "string"},
        "visibility": _VISIBILITY,
        "version": {"type": "integer", "minimum": 1},
        "body": {"type": ["string", "null"]},  # null once the patient was erased
        "created_at": _INSTANT,
        "updated_at": _INSTANT,
    },
    (
        "id", "patient_id", "appointment_id", "author_user_id", "author_role",
        "author_specialist_id", "author_name", "visibility", "version", "body", "created_at",
        "updated_at",
    ),
)  # fmt: skip
NOTES_PAGE = _page(NOTE)
REVISION = _object(
    {
        "version": {"type": "integer", "minimum": 1},
        "body": {"type": ["string", "null"]},
        "visibility": _VISIBILITY,
        "edited_by": _UUID,
        "created_at": _INSTANT,
    },
    ("version", "body", "visibility", "edited_by", "created_at"),
)
HISTORY_PAGE = _page(REVISION)

# --- follow-ups -----------------------------------------------------------------------------

NEW_FOLLOW_UP = _object(
    {
        "reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON},
        "due_on": _DATE,
        "from_appointment_id": _NULLABLE_UUID,
    },
    ("reason", "due_on"),
)
SCHEDULE = _object({"appointment_id": _UUID}, ("appointment_id",))
NO_BODY = _object({}, ())
FOLLOW_UP = _object(
    {
        "id": _UUID,
        "patient_id": _UUID,
        "from_appointment_id": _NULLABLE_UUID,
        "scheduled_appointment_id": _NULLABLE_UUID,
        "reason": {"type": ["string", "null"]},  # null once the patient was erased
        "due_on": _DATE,
        "state": {"enum": [s.value for s in FollowUpState]},
        "created_by": _NULLABLE_UUID,
        "created_by_role": {"type": "string"},
        "created_at": _INSTANT,
        "updated_at": _INSTANT,
    },
    (
        "id", "patient_id", "from_appointment_id", "scheduled_appointment_id", "reason",
        "due_on", "state", "created_by", "created_by_role", "created_at", "updated_at",
    ),
)  # fmt: skip
FOLLOW_UPS_PAGE = _page(FOLLOW_UP)
