"""JSON Schemas of the forms and intake endpoints (requests validated with them, OpenAPI shows
them). What a schema cannot say (which attributes go with which field type, answers against a
form's own fields) is checked by storage.forms, with the same `fields` details."""

from __future__ import annotations

from typing import Any

from storage.forms import KINDS, TYPES

Schema = dict[str, Any]

_UUID: Schema = {"type": "string", "format": "uuid"}
_INSTANT: Schema = {"type": "string", "format": "date-time"}
_NULLABLE_UUID: Schema = {"anyOf": [_UUID, {"type": "null"}]}
_NULLABLE_INSTANT: Schema = {"anyOf": [_INSTANT, {"type": "null"}]}
_NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}
_KEY: Schema = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"}
_LABEL: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
_OPTIONS: Schema = {
    "type": ["array", "null"],
    "items": {"type": "string", "minLength": 1, "maxLength": 200},
    "maxItems": 50,
}


def _object(properties: Schema, required: tuple[str, ...], **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


_FIELD_ATTRIBUTES: Schema = {
    "key": _KEY,
    "label": _LABEL,
    "type": {"enum": list(TYPES)},
    "options": _OPTIONS,
    "min": _NUMBER_OR_NULL,
    "max": _NUMBER_OR_NULL,
    "required": {"type": "boolean"},
    "red_flag": {"type": "boolean"},
    "alert_at": _NUMBER_OR_NULL,
}
FIELD_CREATE = _object(_FIELD_ATTRIBUTES, ("key", "label", "type"))
FIELD_UPDATE = _object(_FIELD_ATTRIBUTES, (), minProperties=1)
FIELD = _object(
    {**_FIELD_ATTRIBUTES, "id": _UUID, "created_at": _INSTANT, "updated_at": _INSTANT},
    ("id", "key", "label", "type", "options", "min", "max", "required", "red_flag", "alert_at"),
)
FROZEN_FIELD = _object(
    {**_FIELD_ATTRIBUTES, "field_id": _UUID},
    ("key", "label", "type", "options", "min", "max", "required"),
)

_TEMPLATE_ATTRIBUTES: Schema = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "kind": {"enum": list(KINDS)},
    "field_ids": {"type": "array", "items": _UUID, "maxItems": 200},
}
TEMPLATE_CREATE = _object(_TEMPLATE_ATTRIBUTES, ("name", "kind"))
TEMPLATE_UPDATE = _object(_TEMPLATE_ATTRIBUTES, (), minProperties=1)
TEMPLATE = _object(
    {
        **_TEMPLATE_ATTRIBUTES,
        "id": _UUID,
        "current_version": {"type": ["integer", "null"]},
        "created_at": _INSTANT,
        "updated_at": _INSTANT,
    },
    ("id", "name", "kind", "field_ids", "current_version", "created_at", "updated_at"),
)
VERSION = _object(
    {
        "id": _UUID,
        "template_id": _UUID,
        "version": {"type": "integer", "minimum": 1},
        "name": {"type": "string"},
        "kind": {"enum": list(KINDS)},
        "fields": {"type": "array", "items": FROZEN_FIELD},
        "published_by": _NULLABLE_UUID,
        "published_at": _INSTANT,
    },
    ("id", "template_id", "version", "name", "kind", "fields", "published_at"),
)


def _list(item: Schema) -> Schema:
    return _object({"data": {"type": "array", "items": item}}, ("data",))


FIELDS = _list(FIELD)
TEMPLATES = _list(TEMPLATE)
VERSIONS = _list(VERSION)

# --- instances -------------------------------------------------------------------------------

_ANSWERS: Schema = {"type": "object", "maxProperties": 200}
SIGNATURE_IN: Schema = _object(
    {
        "signer_name": {"type": "string", "minLength": 1, "maxLength": 200},
        "method": {"enum": ["typed", "drawn"]},
        # A drawn signature: its PNG, base64 (at most 256 KiB of image).
        "image": {"type": "string", "minLength": 1, "maxLength": 350_000},
    },
    ("signer_name", "method"),
)
INSTANCE_CREATE = _object(
    {"template_id": _UUID, "appointment_id": _NULLABLE_UUID}, ("template_id",)
)
ANSWERS = _object({"answers": _ANSWERS}, ("answers",))
SIGN = _object({"signature": SIGNATURE_IN, "answers": _ANSWERS}, ("signature",))
SIGNATURE = _object(
    {
        "signer_name": {"type": ["string", "null"]},  # null once the patient was erased
        "method": {"enum": ["typed", "drawn"]},
        "image": {"type": ["string", "null"]},
        "signed_at": _INSTANT,
        "signed_by": _NULLABLE_UUID,
        "ip": {"type": ["string", "null"]},
        "user_agent": {"type": ["string", "null"]},
    },
    ("signer_name", "method", "image", "signed_at", "signed_by", "ip", "user_agent"),
)
_TEMPLATE_REF = _object(
    {
        "id": _UUID,
        "version_id": _UUID,
        "version": {"type": "integer"},
        "name": {"type": "string"},
        "kind": {"enum": list(KINDS)},
    },
    ("id", "version_id", "version", "name", "kind"),
)
_STATUS: Schema = {"enum": ["open", "submitted", "signed"]}
INSTANCE_SUMMARY = _object(
    {
        "id": _UUID,
        "patient_id": _UUID,
        "appointment_id": _NULLABLE_UUID,
        "template": _TEMPLATE_REF,
        "status": _STATUS,
        "created_at": _INSTANT,
        "submitted_at": _NULLABLE_INSTANT,
        "signed_at": _NULLABLE_INSTANT,
    },
    ("id", "patient_id", "appointment_id", "template", "status", "created_at"),
)
INSTANCE = _object(
    {
        **INSTANCE_SUMMARY["properties"],
        "fields": {"type": "array", "items": FROZEN_FIELD},
        "answers": {"type": "object"},
        "signature": {"anyOf": [SIGNATURE, {"type": "null"}]},
        "updated_at": _INSTANT,
    },
    (*INSTANCE_SUMMARY["required"], "fields", "answers", "signature", "updated_at"),
)
INSTANCES_PAGE = _object(
    {
        "data": {"type": "array", "items": INSTANCE_SUMMARY},
        "next_cursor": {"type": ["string", "null"]},
    },
    ("data", "next_cursor"),
)
SUMMARY = _object(
    {
        "form_id": _UUID,
        "flags": {
            "type": "array",
            "items": _object(
                {
                    "key": {"type": "string"},
                    "label": {"type": "string"},
                    "reason": {"enum": ["red_flag", "high", "unanswered"]},
                    "value": {},
                },
                ("key", "label", "reason", "value"),
            ),
        },
        "text": {"type": "string"},
        "answered": {"type": "integer"},
        "total": {"type": "integer"},
        "summarizer": {"type": "string"},
    },
    ("form_id", "flags", "text", "answered", "total", "summarizer"),
)

# --- intake ----------------------------------------------------------------------------------

INTAKE_SEND = _object(
    {"template_id": _UUID, "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 30}},
    ("template_id",),
)
INTAKE = _object(
    {
        "appointment_id": _UUID,
        "status": {"enum": ["not_sent", "sent", "completed"]},
        "form_id": _NULLABLE_UUID,
        "sent_at": _NULLABLE_INSTANT,
        "expires_at": _NULLABLE_INSTANT,
        "completed_at": _NULLABLE_INSTANT,
    },
    ("appointment_id", "status", "form_id", "sent_at", "expires_at", "completed_at"),
)
INTAKE_SENT = _object(
    # The link, shown this once (it is stored nowhere in clear): for a desk that hands it over.
    {**INTAKE["properties"], "link": {"type": "string"}},
    (*INTAKE["required"], "link"),
)
_PUBLIC_FIELD = _object(
    {
        k: _FIELD_ATTRIBUTES[k]
        for k in ("key", "label", "type", "options", "min", "max", "required")
    },
    ("key", "label", "type", "options", "min", "max", "required"),
)
PUBLIC_INTAKE = _object(
    {
        "form": _object(
            {
                "id": _UUID,
                "name": {"type": "string"},
                "kind": {"enum": list(KINDS)},
                "version": {"type": "integer"},
                "fields": {"type": "array", "items": _PUBLIC_FIELD},
            },
            ("id", "name", "kind", "version", "fields"),
        ),
        "clinic": _object({"name": {"type": "string"}}, ("name",)),
        "appointment": _object(
            {"starts_at": _INSTANT, "ends_at": _INSTANT}, ("starts_at", "ends_at")
        ),
        "expires_at": _INSTANT,
    },
    ("form", "clinic", "appointment", "expires_at"),
)
PUBLIC_SUBMIT = _object({"answers": _ANSWERS, "signature": SIGNATURE_IN}, ("answers",))
PUBLIC_SUBMITTED = _object(
    {"status": {"enum": ["completed"]}, "signed": {"type": "boolean"}}, ("status", "signed")
)
