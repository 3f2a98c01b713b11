"""JSON Schemas of the identity endpoints: request bodies are validated against them and the
OpenAPI document publishes them, so the two cannot drift."""

from __future__ import annotations

from typing import Any

from server.identity.passwords import MAX_LENGTH, MIN_LENGTH

Schema = dict[str, Any]

MEMBER_ROLES = ["admin", "receptionist", "specialist", "owner", "patient"]
ALL_ROLES = ["superadmin", *MEMBER_ROLES]
UUID: Schema = {"type": "string", "format": "uuid"}
NULLABLE_UUID: Schema = {"type": ["string", "null"], "format": "uuid"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}


def _object(properties: Schema, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def page_of(item: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": item},
            "next_cursor": {"type": ["string", "null"]},
        },
    }


LOGIN = _object(
    {
        "email": {"type": "string", "minLength": 1, "maxLength": 320},
        "password": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH},
        "organization_id": {
            **UUID,
            "description": "organization to sign into; default: superadmin's platform session, "
            "else the account's earliest membership",
        },
    },
    ("email", "password"),
)
REFRESH = _object(
    {"refresh_token": {"type": "string", "minLength": 1, "maxLength": 200}}, ("refresh_token",)
)
_NEW_PASSWORD: Schema = {"type": "string", "minLength": MIN_LENGTH, "maxLength": MAX_LENGTH}
PASSWORD_CHANGE = _object(
    {
        "current_password": {"type": "string", "minLength": 1, "maxLength": MAX_LENGTH},
        "new_password": _NEW_PASSWORD,
    },
    ("current_password", "new_password"),
)
PASSWORD_RESET_REQUEST = _object(
    {"email": {"type": "string", "minLength": 3, "maxLength": 320}}, ("email",)
)
PASSWORD_RESET_CONFIRM = _object(
    {
        "token": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "the code of the reset e-mail",
        },
        "new_password": _NEW_PASSWORD,
    },
    ("token", "new_password"),
)
TOKENS: Schema = {
    "type": "object",
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"const": "Bearer"},
        "expires_in": {"type": "integer", "description": "seconds"},
        "refresh_token": {"type": "string", "description": "single use; rotate on refresh"},
        "refresh_expires_at": TIMESTAMP,
        "user_id": UUID,
        "organization_id": NULLABLE_UUID,
        "role": {"enum": ALL_ROLES},
    },
}

_ORG_FIELDS: Schema = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "slug": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,62}$"},
    "timezone": {"type": "string", "minLength": 1, "maxLength": 64, "description": "IANA zone"},
    "language": {"type": "string", "pattern": "^[a-z]{2,3}(-[A-Z]{2})?$"},
}
ORGANIZATION_CREATE = _object(_ORG_FIELDS, ("name", "slug"))
# Clinic settings an admin edits after creation.
_ORG_SETTINGS: Schema = {
    "telerehab_requires_plan": {
        "type": "boolean",
        "description": "guided telerehab sessions start only for patients holding an active "
        "service plan that grants telerehab",
    },
}
ORGANIZATION_UPDATE = _object(_ORG_FIELDS | _ORG_SETTINGS, minProperties=1)
ORGANIZATION: Schema = {
    "type": "object",
    "properties": {
        "id": UUID,
        **_ORG_FIELDS,
        **_ORG_SETTINGS,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    },
}

USER_CREATE = _object(
    {
        "email": {"type": "string", "format": "email", "minLength": 3, "maxLength": 320},
        "password": {
            "type": "string",
            "minLength": MIN_LENGTH,
            "maxLength": MAX_LENGTH,
            "description": "omit to invite without a password; an existing account keeps its own",
        },
        "display_name": {"type": "string", "maxLength": 200},
        "role": {"enum": MEMBER_ROLES},
        "patient_id": {
            **NULLABLE_UUID,
            "description": "role patient only; a patient of this organization (else 422)",
        },
        "specialist_id": {
            **NULLABLE_UUID,
            "description": "role specialist only; a specialist of this organization (else 422)",
        },
    },
    ("email", "role"),
)
USER_UPDATE = _object(
    {
        "role": {"enum": MEMBER_ROLES},
        "patient_id": NULLABLE_UUID,
        "specialist_id": NULLABLE_UUID,
    },
    minProperties=1,
)
USER: Schema = {
    "type": "object",
    "properties": {
        "id": UUID,
        "email": {"type": "string"},
        "display_name": {"type": "string"},
        "role": {"enum": MEMBER_ROLES},
        "patient_id": NULLABLE_UUID,
        "specialist_id": NULLABLE_UUID,
        "disabled": {"type": "boolean"},
        "disabled_at": NULLABLE_TIMESTAMP,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    },
}
ME: Schema = {
    "type": "object",
    "properties": {
        "user": {
            "type": ["object", "null"],
            "description": "null for operator tokens whose subject is no account",
        },
        "organization": {"oneOf": [ORGANIZATION, {"type": "null"}]},
        "role": {"enum": ALL_ROLES},
        "patient_id": NULLABLE_UUID,
        "specialist_id": NULLABLE_UUID,
    },
}
EXTERNAL_LINK = _object(
    {"subject": {"type": "string", "minLength": 1, "maxLength": 255}}, ("subject",)
)
EXTERNAL_IDENTITY: Schema = {
    "type": "object",
    "properties": {
        "user_id": UUID,
        "issuer": {"type": "string"},
        "subject": {"type": "string"},
        "created_at": TIMESTAMP,
    },
}
AUDIT_ENTRY: Schema = {
    "type": "object",
    "properties": {
        "id": UUID,
        "organization_id": NULLABLE_UUID,
        "actor": {
            "type": "object",
            "properties": {"user_id": NULLABLE_UUID, "role": {"type": ["string", "null"]}},
        },
        "action": {"type": "string", "examples": ["user.disable"]},
        "entity": {"type": "string"},
        "entity_id": {"type": ["string", "null"]},
        "diff": {
            "type": "object",
            "description": "changed fields as {field: {before, after}}; sensitive values ***",
        },
        "request_id": {"type": ["string", "null"]},
        "ip": {"type": ["string", "null"]},
        "created_at": TIMESTAMP,
    },
}
