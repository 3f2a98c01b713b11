"""JSON Schemas of the attachment endpoints (OpenAPI shows them; uploads are raw bytes or a
multipart form, not JSON)."""

from __future__ import annotations

from typing import Any

from storage.attachments import ALLOWED_TYPES, MAX_FILENAME

Schema = dict[str, Any]

_UUID: Schema = {"type": "string", "format": "uuid"}
_INSTANT: Schema = {"type": "string", "format": "date-time"}


def _object(properties: Schema, required: tuple[str, ...]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


_FIELDS: Schema = {
    "id": _UUID,
    "patient_id": _UUID,
    # null once the patient was erased
    "filename": {"type": ["string", "null"], "maxLength": MAX_FILENAME},
    "content_type": {"enum": list(ALLOWED_TYPES)},
    "size": {"type": "integer", "minimum": 1},
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "uploaded_by": {"anyOf": [_UUID, {"type": "null"}]},
    "uploaded_by_role": {"type": "string"},
    "created_at": _INSTANT,
}
_REQUIRED = tuple(_FIELDS)

ATTACHMENT = _object(_FIELDS, _REQUIRED)
LINK = _object({"url": {"type": "string"}, "expires_at": _INSTANT}, ("url", "expires_at"))
# One attachment with a short-lived download link (relative to the API's origin for the
# embedded store, absolute for S3).
ATTACHMENT_WITH_LINK = _object({**_FIELDS, "link": LINK}, (*_REQUIRED, "link"))
ATTACHMENTS_PAGE = _object(
    {"data": {"type": "array", "items": ATTACHMENT}, "next_cursor": {"type": ["string", "null"]}},
    ("data", "next_cursor"),
)
