"""JSON Schemas of the session endpoints' bodies (validated and published in OpenAPI)."""

from __future__ import annotations

from typing import Any

from server.routing import ID, nullable, shape

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


# --- response bodies ----------------------------------------------------------------------------
_TEXT: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_ITEMS: dict[str, Any] = {"type": "array", "items": {"type": "object"}}
SESSION_OUT = shape(  # routes.render: the worker's live view of a running session
    {
        "id": ID,
        "patient_id": ID,
        "assignment_id": ID,
        "session_index": _INT,
        "status": _TEXT,
        "outcome": nullable(_TEXT),
        "channel": {"type": "string", "description": "patient:<id>, where its events go"},
        "current": nullable({"type": "object"}),
        "exercises": _ITEMS,
        "summary": _ITEMS,
        "completion_id": nullable(ID),
        "frames": {"type": "object"},
    }
)
FINISHED_SESSION_OUT = shape(  # routes.get of a session that ended (from its completion)
    {
        "id": ID,
        "patient_id": ID,
        "assignment_id": ID,
        "session_index": _INT,
        "status": {"enum": ["completed", "abandoned"]},
        "outcome": _TEXT,
        "channel": _TEXT,
        "completion_id": ID,
        "summary": _ITEMS,
        "questionnaire": nullable({"type": "object"}),
    }
)
SESSION_READ = {"anyOf": [SESSION_OUT, FINISHED_SESSION_OUT]}
SESSION_QUESTIONNAIRE_OUT = shape(
    {
        "session_id": ID,
        "completion_id": ID,
        "pain": _INT,
        "difficulty": _INT,
        "note": nullable(_TEXT),
    }
)
