"""JSON Schemas of the message endpoints (requests validated with them, OpenAPI shows them)."""

from __future__ import annotations

from typing import Any

from storage.messages import MAX_BODY, MAX_SUBJECT

Schema = dict[str, Any]

_UUID: Schema = {"type": "string", "format": "uuid"}
_INSTANT: Schema = {"type": "string", "format": "date-time"}
_NULLABLE_UUID: Schema = {"anyOf": [_UUID, {"type": "null"}]}
_BODY: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_BODY}


def _object(properties: Schema, required: tuple[str, ...]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


NEW_THREAD = _object(
    {"subject": {"type": "string", "minLength": 1, "maxLength": MAX_SUBJECT}, "body": _BODY},
    ("subject", "body"),
)
NEW_MESSAGE = _object({"body": _BODY}, ("body",))
READ = _object({"message_id": _UUID}, ())

MESSAGE = _object(
    {
        "id": _UUID,
        "thread_id": _UUID,
        "author_user_id": _NULLABLE_UUID,
        "author_role": {"type": "string"},
        "body": {"type": ["string", "null"]},  # null once the patient was erased
        "created_at": _INSTANT,
    },
    ("id", "thread_id", "author_user_id", "author_role", "body", "created_at"),
)
THREAD = _object(
    {
        "id": _UUID,
        "patient_id": _UUID,
        "subject": {"type": ["string", "null"]},
        "state": {"enum": ["open", "closed"]},
        "created_by": _NULLABLE_UUID,
        "created_by_role": {"type": "string"},
        "created_at": _INSTANT,
        "last_message_at": _INSTANT,
        "unread": {"type": "integer", "minimum": 0},
    },
    ("id", "patient_id", "subject", "state", "created_at", "last_message_at"),
)
NEW_THREAD_RESPONSE = _object({"thread": THREAD, "message": MESSAGE}, ("thread", "message"))


def _page(item: Schema) -> Schema:
    return _object(
        {"data": {"type": "array", "items": item}, "next_cursor": {"type": ["string", "null"]}},
        ("data", "next_cursor"),
    )


THREADS_PAGE = _page(THREAD)
MESSAGES_PAGE = _page(MESSAGE)
RECEIPT = _object(
    {
        "thread_id": _UUID,
        "user_id": _UUID,
        "last_read_message_id": _UUID,
        "last_read_at": _INSTANT,
    },
    ("thread_id", "user_id", "last_read_message_id", "last_read_at"),
)
