"""JSON Schemas of the telerehab request bodies (validated on input, published in OpenAPI).

Plan content and frequency come from storage.telerehab, the one definition of their shape; the
kinematic definition is checked by pipelines.pose (richer per-field messages than a schema)."""

from __future__ import annotations

from typing import Any

from server.routing import ID, STAMP, nullable, page, shape
from storage.telerehab import (
    CONTENT_SCHEMA,
    FREQUENCY_SCHEMA,
    UUID_PATTERN,
    BodyRegion,
    Category,
    Difficulty,
    Equipment,
)

_UUID: dict[str, Any] = {
    "type": "string",
    "pattern": UUID_PATTERN,
}
_DATE: dict[str, Any] = {"type": "string", "format": "date"}
_TEXT_LIST: dict[str, Any] = {
    "type": "array",
    "maxItems": 30,
    "items": {"type": "string", "minLength": 1, "maxLength": 500},
}
_BLOB_KEY: dict[str, Any] = {
    "type": ["string", "null"],
    "pattern": "^[A-Za-z0-9][A-Za-z0-9/_.-]{0,511}$",
}
_TRANSLATION: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 4000},
        "instructions": _TEXT_LIST,
        "contraindications": _TEXT_LIST,
    },
}

EXERCISE_FIELDS: dict[str, Any] = {
    "scope": {"enum": ["global", "organization"]},
    "slug": {"type": ["string", "null"], "pattern": "^[a-z0-9][a-z0-9_-]{1,62}$"},
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": {"type": "string", "maxLength": 4000},
    "instructions": _TEXT_LIST,
    "contraindications": _TEXT_LIST,
    "video_key": _BLOB_KEY,
    "image_key": _BLOB_KEY,
    "category": {"enum": [c.value for c in Category]},
    "body_region": {"enum": [r.value for r in BodyRegion]},
    "equipment": {
        "type": "array",
        "maxItems": 10,
        "items": {"enum": [e.value for e in Equipment]},
    },
    "difficulty": {"enum": [d.value for d in Difficulty]},
    "tags": {
        "type": "array",
        "maxItems": 20,
        "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,39}$"},
    },
    "kinematics": {"type": ["object", "null"], "description": "validated by pipelines.pose"},
    "translations": {
        "type": "object",
        "maxProperties": 30,
        "propertyNames": {"pattern": "^[a-z]{2}(-[A-Za-z]{2})?$"},
        "additionalProperties": _TRANSLATION,
    },
}

EXERCISE_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["name", "category", "body_region", "difficulty"],
    "additionalProperties": False,
    "properties": EXERCISE_FIELDS,
}

EXERCISE_PATCH: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {k: v for k, v in EXERCISE_FIELDS.items() if k != "scope"},
}

_PLAN_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": {"type": "string", "maxLength": 4000},
    "plan_type": {"enum": ["telerehab", "in_clinic"]},
}

PLAN_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["name", "sessions"],
    "additionalProperties": False,
    "properties": {
        **_PLAN_FIELDS,
        "scope": {"enum": ["global", "organization", "custom"]},
        "patient_id": _UUID,
        "sessions": CONTENT_SCHEMA["properties"]["sessions"],
    },
}

PLAN_PATCH: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": _PLAN_FIELDS,
}

PLAN_DRAFT: dict[str, Any] = CONTENT_SCHEMA

PLAN_CLONE: dict[str, Any] = {
    "type": "object",
    "required": ["scope"],
    "additionalProperties": False,
    "properties": {
        "scope": {"enum": ["global", "organization", "custom"]},
        "patient_id": _UUID,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "version": {"type": "integer", "minimum": 1},
    },
}

ASSIGNMENT_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["plan_id", "frequency", "starts_on"],
    "additionalProperties": False,
    "properties": {
        "plan_id": _UUID,
        "plan_version": {"type": "integer", "minimum": 1},
        "frequency": FREQUENCY_SCHEMA,
        "starts_on": _DATE,
        "ends_on": {"anyOf": [_DATE, {"type": "null"}]},
        "specialist_id": _UUID,
        "replaces": _UUID,
    },
}

_ANGLE: dict[str, Any] = {"type": ["number", "null"], "minimum": 0, "maximum": 180}
_COUNT: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 100_000}

EXERCISE_LOG: dict[str, Any] = {
    "type": "object",
    "required": ["position", "exercise_id", "sets_done", "reps_done", "duration_s"],
    "additionalProperties": False,
    "properties": {
        "position": {"type": "integer", "minimum": 0, "maximum": 100},
        "exercise_id": _UUID,
        "sets_done": _COUNT,
        "reps_done": _COUNT,
        "duration_s": _COUNT,
        "rom_min_deg": _ANGLE,
        "rom_max_deg": _ANGLE,
        "rom_mean_deg": _ANGLE,
        "tempo_mean_ms": {"type": ["integer", "null"], "minimum": 0, "maximum": 600_000},
        "cues": {
            "type": "object",
            "maxProperties": 32,
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,63}$"},
            "additionalProperties": _COUNT,
        },
        "pain": {"type": ["integer", "null"], "minimum": 0, "maximum": 10},
    },
}

COMPLETION_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["session_index", "started_at", "completed_at", "exercises"],
    "additionalProperties": False,
    "properties": {
        "session_index": {"type": "integer", "minimum": 0, "maximum": 100},
        "started_at": {"type": "string", "minLength": 10, "maxLength": 40},
        "completed_at": {"type": "string", "minLength": 10, "maxLength": 40},
        "status": {"enum": ["completed", "partial"]},
        "exercises": {"type": "array", "maxItems": 100, "items": EXERCISE_LOG},
    },
}

QUESTIONNAIRE: dict[str, Any] = {
    "type": "object",
    "required": ["pain", "difficulty"],
    "additionalProperties": False,
    "properties": {
        "pain": {"type": "integer", "minimum": 0, "maximum": 10, "description": "0-10 NRS"},
        "difficulty": {
            "type": "integer",
            "minimum": 0,
            "maximum": 10,
            "description": "0-10, Borg CR10 perceived exertion",
        },
        "note": {"type": ["string", "null"], "maxLength": 2000},
    },
}

# Consent ledger (storage/consents.py) and care-team grants.
_CONSENT_CHANNEL: dict[str, Any] = {
    "enum": ["app", "web", "front_desk", "paper", "phone", "email"],
    "description": "how the decision reached the clinic; default: `app` for the patient "
    "themself, `front_desk` for staff",
}
_POLICY_VERSION: dict[str, Any] = {
    "type": "string",
    "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$",
    "description": "version of the privacy notice the decision was made under",
}
CONSENT_CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["purpose", "policy_version"],
    "additionalProperties": False,
    "properties": {
        "purpose": {"enum": ["telerehab_camera", "analytics", "treatment", "marketing"]},
        "policy_version": _POLICY_VERSION,
        "granted": {"type": "boolean", "description": "default true; false records a refusal"},
        "channel": _CONSENT_CHANNEL,
    },
}
CONSENT_WITHDRAW: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"policy_version": _POLICY_VERSION, "channel": _CONSENT_CHANNEL},
}
CARE_TEAM_GRANT: dict[str, Any] = {
    "type": "object",
    "required": ["specialist_id"],
    "additionalProperties": False,
    "properties": {"specialist_id": _UUID},
}


# --- response bodies: each mirrors the render function named beside it ------------------------
_TEXT: dict[str, Any] = {"type": "string"}
_INT: dict[str, Any] = {"type": "integer"}
_DAY: dict[str, Any] = {"type": "string", "format": "date"}
_TEXTS: dict[str, Any] = {"type": "array", "items": _TEXT}
_OBJECT: dict[str, Any] = {"type": "object"}

_EXERCISE_SUMMARY = {  # exercises.render(detail=False)
    "id": ID,
    "scope": {"enum": ["global", "organization"]},
    "slug": nullable(_TEXT),
    "name": _TEXT,
    "description": _TEXT,
    "category": _TEXT,
    "body_region": _TEXT,
    "equipment": _TEXTS,
    "difficulty": _TEXT,
    "tags": _TEXTS,
    "contraindications": _TEXTS,
    "video_key": nullable(_TEXT),
    "image_key": nullable(_TEXT),
    "tracked": {"type": "boolean"},
    "view": nullable(_TEXT),
    "language": nullable(_TEXT),
}
EXERCISE_OUT = shape(  # exercises.render(detail=True)
    {
        **_EXERCISE_SUMMARY,
        "instructions": _TEXTS,
        "kinematics": nullable(_OBJECT),
        "driving_angles": {"type": "array", "items": _OBJECT},
        "translations": _OBJECT,
        "source_exercise_id": nullable(ID),
        "created_at": STAMP,
        "updated_at": STAMP,
    }
)
EXERCISE_PAGE = page(shape(_EXERCISE_SUMMARY))
TAXONOMY_OUT = shape(
    {"categories": _TEXTS, "body_regions": _TEXTS, "equipment": _TEXTS, "difficulties": _TEXTS}
)
_PLAN = {  # plans.render_plan without versions
    "id": ID,
    "scope": _TEXT,
    "patient_id": nullable(ID),
    "name": _TEXT,
    "description": _TEXT,
    "plan_type": _TEXT,
    "source_plan_id": nullable(ID),
    "source_version": nullable(_INT),
    "created_at": STAMP,
    "updated_at": STAMP,
}
PLAN_VERSION_OUT = shape(  # plans.render_version
    {
        "id": ID,
        "plan_id": ID,
        "version": _INT,
        "status": _TEXT,
        "content": _OBJECT,
        "snapshot": nullable(_OBJECT),
        "snapshot_digest": nullable(_TEXT),
        "created_at": STAMP,
        "published_at": nullable(STAMP),
    }
)
PLAN_OUT = shape(  # plans.render_plan(plan), and with versions on create, clone and get
    {
        **_PLAN,
        "versions": {
            "type": "array",
            "items": shape(
                {
                    "version": _INT,
                    "status": _TEXT,
                    "published_at": nullable(STAMP),
                    "snapshot_digest": nullable(_TEXT),
                }
            ),
        },
        "published_version": nullable(_INT),
        "draft": nullable(PLAN_VERSION_OUT),
    },
    "versions",
    "published_version",
    "draft",
)
PLAN_PAGE = page(shape(_PLAN))
PLAN_VERSIONS_OUT = page(PLAN_VERSION_OUT)
_ASSIGNMENT = {  # assignments.render
    "id": ID,
    "patient_id": ID,
    "plan_id": ID,
    "plan_version": _INT,
    "plan_version_id": ID,
    "starts_on": _DAY,
    "ends_on": nullable(_DAY),
    "frequency": _OBJECT,
    "status": _TEXT,
    "specialist_id": nullable(ID),
    "replaces_id": nullable(ID),
    "created_at": STAMP,
    "ended_at": nullable(STAMP),
}
ASSIGNMENT_OUT = shape(_ASSIGNMENT)
ASSIGNMENT_PAGE = page(ASSIGNMENT_OUT)
ASSIGNMENT_DETAIL_OUT = shape(
    {**_ASSIGNMENT, "snapshot_digest": nullable(_TEXT), "plan": nullable(_OBJECT)}
)
_COMPLETION = {  # progress.render(detail=False)
    "id": ID,
    "patient_id": ID,
    "assignment_id": ID,
    "plan_version_id": ID,
    "session_index": _INT,
    "telerehab_session_id": nullable(ID),
    "source": _TEXT,
    "status": _TEXT,
    "started_at": STAMP,
    "completed_at": STAMP,
    "duration_s": _INT,
}
_QUESTIONNAIRE = {
    "pain": _INT,
    "difficulty": _INT,
    "note": nullable(_TEXT),
    "created_at": STAMP,
}
COMPLETION_OUT = shape(  # progress.render(detail=True)
    {
        **_COMPLETION,
        "exercises": {"type": "array", "items": _OBJECT},
        "questionnaire": nullable(shape(_QUESTIONNAIRE)),
    }
)
COMPLETION_PAGE = page(shape(_COMPLETION))
QUESTIONNAIRE_OUT = shape({"completion_id": ID, **_QUESTIONNAIRE})
_ADHERENCE = {
    "scheduled": _INT,
    "completed": _INT,
    "credited": _INT,
    "rate": nullable({"type": "number"}),
}
ADHERENCE_OUT = shape(
    {
        "patient_id": ID,
        "from": _DAY,
        "to": _DAY,
        **_ADHERENCE,
        "assignments": {
            "type": "array",
            "items": shape(
                {"assignment_id": ID, "plan_id": ID, "plan_version": _INT, **_ADHERENCE}
            ),
        },
    }
)
_CONSENT = {  # consents.render
    "id": ID,
    "patient_id": ID,
    "purpose": _TEXT,
    "policy_version": _TEXT,
    "granted": {"type": "boolean"},
    "recorded_by": nullable(ID),
    "recorded_role": nullable(_TEXT),
    "channel": _TEXT,
    "ip": nullable(_TEXT),
    "recorded_at": STAMP,
}
CONSENT_OUT = shape(  # with the effects of a withdrawal taken at once
    {**_CONSENT, "sessions_stopped": _INT}, "sessions_stopped"
)
CONSENT_PAGE = page(
    shape(_CONSENT),
    current={
        "type": "object",
        "description": "purpose -> whether the newest decision grants it",
        "additionalProperties": {"type": "boolean"},
    },
)
GRANT_OUT = shape(  # care_team.render
    {
        "id": ID,
        "patient_id": ID,
        "specialist_id": ID,
        "granted_by": nullable(ID),
        "created_at": STAMP,
        "active": {"type": "boolean"},
        "revoked_at": nullable(STAMP),
        "revoked_by": nullable(ID),
    }
)
GRANTS_OUT = page(GRANT_OUT)
ACCESS_LOG_PAGE = page(  # care_team._render_access
    shape(
        {
            "id": ID,
            "actor": shape({"user_id": nullable(ID), "role": nullable(_TEXT)}),
            "record": _TEXT,
            "record_id": nullable(_TEXT),
            "request_id": nullable(_TEXT),
            "ip": nullable(_TEXT),
            "at": STAMP,
        }
    )
)
