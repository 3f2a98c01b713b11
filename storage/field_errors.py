"""Per-field messages for a value that breaks a JSON Schema, in the words the web kit's parsers
use (server/web/params.py), so a REST body and a WebSocket frame with the same bad value carry
the same `details.fields` whichever edge found the fault."""

from __future__ import annotations

from collections.abc import Iterable

from jsonschema import ValidationError

REQUIRED = "is required"
MUST_BE_UUID = "must be a UUID"
MUST_BE_INSTANT = "must be an RFC 3339 date-time with an offset (e.g. Z or +02:00)"
MUST_BE_DATE = "must be a date (YYYY-MM-DD)"
UNKNOWN_FIELDS = "has unknown fields"

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_FORMAT_MESSAGES = {"uuid": MUST_BE_UUID, "date-time": MUST_BE_INSTANT}
# A value of the wrong JSON type, said without echoing the value (it may be a patient's text).
_TYPE_NAMES = {
    "array": "an array",
    "object": "an object",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}


def type_message(expected: str) -> str:
    return f"must be {_TYPE_NAMES.get(expected, expected)}"


def field_messages(errors: Iterable[ValidationError]) -> dict[str, str]:
    """path -> message, the first message per path; a missing property is named by its path."""
    fields: dict[str, str] = {}
    for error in errors:
        path = ".".join(str(p) for p in error.absolute_path) or "$"
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in (k for k in error.validator_value if k not in error.instance):
                fields.setdefault(f"{path}.{name}" if path != "$" else name, REQUIRED)
            continue
        if error.validator == "additionalProperties":
            fields.setdefault(path, UNKNOWN_FIELDS)
            continue
        fields.setdefault(path, _kit_message(error) or error.message[:200])
    return fields


def _kit_message(error: ValidationError) -> str | None:
    if error.validator == "format":
        return _FORMAT_MESSAGES.get(str(error.validator_value))
    if error.validator == "pattern" and error.validator_value == UUID_PATTERN:
        return MUST_BE_UUID
    if error.validator == "type" and isinstance(error.validator_value, str):
        return type_message(error.validator_value)
    if error.validator in ("anyOf", "oneOf"):  # e.g. a UUID or null: the UUID's message
        return next(filter(None, map(_kit_message, error.context or ())), None)
    return None
