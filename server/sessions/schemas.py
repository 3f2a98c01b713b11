"""JSON Schemas of the session endpoints' bodies (validated and published in OpenAPI)."""

from __future__ import annotations

from typing import Any

UUID = {"type": "string", "format": "uuid"}

SESSION_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["assignment_id"],
    "additionalProperties": False,
    "properties": {
        "assignment_id": UUID,
        "session_index": {
            "type": "integer",
            "minimum": 0,
            "description": "which session of the plan; default: the next one in turn",
        },
    },
}

CONTROL: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "reps": {
            "type": "integer",
            "minimum": 0,
            "maximum": 5000,
            "description": "done only: reps the patient did (untracked exercises)",
        }
    },
}
