"""JSON Schemas of the scheduling request bodies; the same dicts validate requests and are
published in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from server.routing import ID, STAMP, listing, nullable, page, shape

Schema = dict[str, Any]

UUID: Schema = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}
NAME: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
TIMEZONE: Schema = {"type": "string", "minLength": 1, "maxLength": 64}
START_TIME: Schema = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
END_TIME: Schema = {"type": "string", "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"}
DATE: Schema = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
INSTANT: Schema = {"type": "string", "format": "date-time"}


def _object(properties: Schema, required: tuple[str, ...] = (), **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **extra,
    }


def _patch(create: Schema) -> Schema:
    """The PATCH body of a resource: any subset of its create fields, at least one."""
    return {**create, "required": [], "minProperties": 1}


WEEKLY_INTERVAL = _object(
    {
        "weekday": {"type": "integer", "minimum": 1, "maximum": 7},
        "start": START_TIME,
        "end": END_TIME,
    },
    ("weekday", "start", "end"),
)
WEEKLY_HOURS = {"type": "array", "items": WEEKLY_INTERVAL, "maxItems": 100}
DAY_INTERVAL = _object({"start": START_TIME, "end": END_TIME}, ("start", "end"))

SPECIALTY = _object({"name": NAME}, ("name",))

SPECIALIST = _object(
    {
        "name": NAME,
        "timezone": TIMEZONE,
        "user_id": {"anyOf": [UUID, {"type": "null"}]},
        "active": {"type": "boolean"},
        "specialty_ids": {"type": "array", "items": UUID, "maxItems": 50, "uniqueItems": True},
    },
    ("name", "timezone"),
)
SPECIALIST_PATCH = _patch(SPECIALIST)
# A specialist's own week: each interval may name the location they work at then (rooms of a
# service are chosen there, see docs/scheduling-resources.md).
WEEKLY_INTERVAL_AT = {
    **WEEKLY_INTERVAL,
    "properties": {
        **WEEKLY_INTERVAL["properties"],
        "location_id": {"anyOf": [UUID, {"type": "null"}]},
    },
}
WEEKLY_HOURS_PUT = _object(
    {"hours": {"type": "array", "items": WEEKLY_INTERVAL_AT, "maxItems": 100}}, ("hours",)
)
OVERRIDE = _object(
    {"date": DATE, "hours": {"type": "array", "items": DAY_INTERVAL, "maxItems": 24}},
    ("date", "hours"),
)

SERVICE = _object(
    {
        "name": NAME,
        "duration_min": {"type": "integer", "minimum": 1, "maximum": 1440},
        "buffer_before_min": {"type": "integer", "minimum": 0, "maximum": 240},
        "buffer_after_min": {"type": "integer", "minimum": 0, "maximum": 240},
        "modality": {"enum": ["in_clinic", "virtual"]},
        "price": _object(
            {
                "amount": {"type": "integer", "minimum": 0, "maximum": 10**12},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            },
            ("amount", "currency"),
        ),
        "active": {"type": "boolean"},
        "capacity": {"type": "integer", "minimum": 1, "maximum": 500},
    },
    ("name", "duration_min"),
)
SERVICE_PATCH = _patch(SERVICE)

CALENDAR_MEMBER = _object(
    {
        "id": UUID,
        "priority": {"type": "integer", "minimum": -1000, "maximum": 1000},
        "hours": {"anyOf": [WEEKLY_HOURS, {"type": "null"}]},
    },
    ("id",),
)
CALENDAR = _object(
    {
        "name": NAME,
        "service_id": UUID,
        "timezone": TIMEZONE,
        "public": {"type": "boolean"},
        "slot_interval_min": {"type": "integer", "minimum": 1, "maximum": 1440},
        "min_notice_min": {"type": "integer", "minimum": 0, "maximum": 525600},
        "horizon_days": {"type": "integer", "minimum": 0, "maximum": 730},
        "period": _object({"start": DATE, "end": DATE}, ("start", "end")),
        "assignment": {"enum": ["round_robin", "priority", "patient_choice"]},
        "specialists": {
            "type": "array",
            "items": CALENDAR_MEMBER,
            "maxItems": 200,
        },
        "hours": {"anyOf": [WEEKLY_HOURS, {"type": "null"}]},
        "daily_cap": {
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": 1000}, {"type": "null"}]
        },
        "hold_ttl_s": {"type": "integer", "minimum": 30, "maximum": 3600},
        "active": {"type": "boolean"},
    },
    ("name", "service_id", "timezone"),
)
CALENDAR_PATCH = _patch(CALENDAR)

PHONE: Schema = {"type": "string", "pattern": "^\\+?[0-9 ()./-]{3,32}$"}
PATIENT = _object(
    {
        "first_name": {"type": "string", "minLength": 1, "maxLength": 100},
        "last_name": {"type": "string", "minLength": 1, "maxLength": 100},
        "email": {
            "anyOf": [{"type": "string", "format": "email", "maxLength": 254}, {"type": "null"}]
        },
        "phone": {"anyOf": [PHONE, {"type": "null"}]},
        "date_of_birth": {"anyOf": [DATE, {"type": "null"}]},
        "guest": {"type": "boolean"},
        # consent_* are read-only here: consent is recorded in the ledger
        # (POST /v1/patients/{id}/consents) and mirrored onto the patient.
    },
    ("first_name", "last_name"),
)
PATIENT_PATCH = _patch(PATIENT)

VISIT_REASON: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": 2000,
    "description": "what the visit is for, in the patient's words (sealed at rest)",
}
SERIES = _object(
    {
        "calendar_id": UUID,
        "patient_id": UUID,
        "specialist_id": {"anyOf": [UUID, {"type": "null"}]},
        "start": INSTANT,
        "occurrences": {"type": "integer", "minimum": 1, "maximum": 52},
        "interval_days": {"type": "integer", "minimum": 1, "maximum": 365},
        "force_reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": 500,
            "description": "book over a conflict with the named specialist (admins, where the "
            "clinic's policy allows it; audited)",
        },
        "visit_reason": VISIT_REASON,
    },
    ("calendar_id", "patient_id", "start"),
)
RESCHEDULE = _object(
    {"start": INSTANT, "specialist_id": {"anyOf": [UUID, {"type": "null"}]},
     "calendar_id": {"anyOf": [UUID, {"type": "null"}]}},
    ("start",),
)  # fmt: skip
CANCEL = _object(
    {
        "reason": {"type": "string", "minLength": 1, "maxLength": 200},
        "note": {"anyOf": [{"type": "string", "maxLength": 2000}, {"type": "null"}]},
    },
    ("reason",),
)

APPOINTMENT_RESPONSE: Schema = {
    "type": "object",
    "required": ["id", "status", "calendar_id", "specialist_id", "patient_id", "start", "end"],
    "properties": {
        "id": UUID,
        "status": {"type": "string"},
        "calendar_id": UUID,
        "specialist_id": UUID,
        "patient_id": UUID,
        "service_id": UUID,
        "start": INSTANT,
        "end": INSTANT,
        "series_id": {"anyOf": [UUID, {"type": "null"}]},
        "forced_reason": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "set when an admin booked over a conflict",
        },
        "visit_reason": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "in reads of appointments (GET one, the list)",
        },
        "desk_note": {
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "description": "the front desk's note (staff reads only)",
        },
    },
}
DETAILS = _object(
    {
        "visit_reason": {"anyOf": [VISIT_REASON, {"type": "null"}]},
        "desk_note": {
            "anyOf": [{"type": "string", "minLength": 1, "maxLength": 2000}, {"type": "null"}]
        },
    },
    (),
    minProperties=1,
)
_SLOT: Schema = {
    "type": "object",
    "required": ["start", "end", "specialist_ids"],
    "properties": {
        "start": INSTANT,
        "end": INSTANT,
        "specialist_ids": {"type": "array", "items": UUID},
        "seats_left": {"type": "integer", "description": "a class's free seats (group calendars)"},
    },
}
SLOTS_RESPONSE: Schema = {
    "type": "object",
    "required": ["calendar_id", "timezone", "position", "slots"],
    "properties": {
        "calendar_id": UUID,
        "timezone": {"type": "string"},
        "position": {"anyOf": [{"type": "null"}, {"type": "object"}]},
        "slots": {"type": "array", "items": _SLOT},
        "viewer_timezone": {"type": "string", "description": "the `timezone` asked for"},
        "days": {
            "type": "array",
            "description": "with group=day: the slots by local date (the viewer's zone, else the "
            "calendar's), each with its `local_start`",
            "items": {
                "type": "object",
                "required": ["date", "slots"],
                "properties": {
                    "date": {"type": "string", "format": "date"},
                    "slots": {
                        "type": "array",
                        "items": {
                            **_SLOT,
                            "properties": {
                                **_SLOT["properties"],
                                "local_start": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}


# --- response bodies (published in the OpenAPI document; see server/routing.py's kit) ---------
# Each mirrors a render function named beside it; a field a render omits in some reads is
# listed after the properties as optional.

_TEXT: Schema = {"type": "string"}
_HHMM_INTERVAL = shape({"weekday": {"type": "integer"}, "start": _TEXT, "end": _TEXT})
# catalog.render_specialty
SPECIALTY_OUT = shape({"id": ID, "name": _TEXT, "created_at": STAMP, "updated_at": STAMP})
SERVICE_OUT = shape(  # catalog.render_service
    {
        "id": ID,
        "name": _TEXT,
        "duration_min": {"type": "integer"},
        "buffer_before_min": {"type": "integer"},
        "buffer_after_min": {"type": "integer"},
        "modality": _TEXT,
        "price": shape({"amount": {"type": "integer"}, "currency": _TEXT}),
        "active": {"type": "boolean"},
        "capacity": {"type": "integer"},
        "created_at": STAMP,
        "updated_at": STAMP,
    }
)
SPECIALIST_OUT = shape(  # specialists.render_specialist
    {
        "id": ID,
        "name": _TEXT,
        "timezone": _TEXT,
        "user_id": nullable(ID),
        "active": {"type": "boolean"},
        "specialty_ids": {"type": "array", "items": ID},
        "created_at": STAMP,
        "updated_at": STAMP,
    }
)
WEEKLY_HOURS_OUT = shape({"specialist_id": ID, "hours": {"type": "array", "items": _HHMM_INTERVAL}})
OVERRIDE_OUT = shape(  # specialists._render_override
    {
        "date": DATE,
        "hours": {"type": "array", "items": shape({"start": _TEXT, "end": _TEXT})},
        "day_off": {"type": "boolean"},
    }
)
_WEEKLY_OR_NULL = nullable({"type": "array", "items": _HHMM_INTERVAL})
CALENDAR_OUT = shape(  # calendars.render_calendar
    {
        "id": ID,
        "name": _TEXT,
        "service_id": ID,
        "timezone": _TEXT,
        "public": {"type": "boolean"},
        "slot_interval_min": nullable({"type": "integer"}),
        "min_notice_min": {"type": "integer"},
        "horizon_days": nullable({"type": "integer"}),
        "period": nullable(shape({"start": DATE, "end": DATE})),
        "assignment": _TEXT,
        "specialists": {
            "type": "array",
            "items": shape({"id": ID, "priority": {"type": "integer"}, "hours": _WEEKLY_OR_NULL}),
        },
        "hours": _WEEKLY_OR_NULL,
        "daily_cap": nullable({"type": "integer"}),
        "hold_ttl_s": nullable({"type": "integer"}),
        "active": {"type": "boolean"},
        "created_at": STAMP,
        "updated_at": STAMP,
    }
)
PATIENT_OUT = shape(  # patients.render_patient
    {
        "id": ID,
        "first_name": nullable(_TEXT),
        "last_name": nullable(_TEXT),
        "email": nullable(_TEXT),
        "phone": nullable(_TEXT),
        "date_of_birth": nullable(DATE),
        "guest": {"type": "boolean"},
        "consent_analytics": {"type": "boolean"},
        "consent_marketing": {"type": "boolean"},
        "consent_telerehab": {"type": "boolean"},
        "user_id": nullable(ID),
        "created_at": STAMP,
        "updated_at": STAMP,
    }
)
CANCELLATION_OUT = shape(  # patients.render_cancellation
    {
        "id": ID,
        "appointment_id": ID,
        "patient_id": ID,
        "specialist_id": ID,
        "calendar_id": ID,
        "reason": _TEXT,
        "note": nullable(_TEXT),
        "cancelled_by": nullable(ID),
        "cancelled_by_role": nullable(_TEXT),
        "original_start": STAMP,
        "original_end": STAMP,
        "created_at": STAMP,
    }
)
SERIES_OUT = shape(
    {"series_id": ID, "appointments": {"type": "array", "items": APPOINTMENT_RESPONSE}}
)
HISTORY_OUT = page(  # appointments._render_history, oldest first, one page
    shape(
        {
            "action": _TEXT,
            "from_status": nullable(_TEXT),
            "to_status": nullable(_TEXT),
            "from_start": nullable(STAMP),
            "from_end": nullable(STAMP),
            "from_specialist_id": nullable(ID),
            "start": nullable(STAMP),
            "end": nullable(STAMP),
            "specialist_id": nullable(ID),
            "actor_user_id": nullable(ID),
            "actor_role": nullable(_TEXT),
            "at": STAMP,
        }
    )
)
POLICY_OUT = shape(  # storage Policy.as_row
    {
        "late_cancel_window_min": {"type": "integer"},
        "patient_can_cancel": {"type": "boolean"},
        "patient_can_reschedule": {"type": "boolean"},
        "patient_min_notice_min": {"type": "integer"},
        "allow_forced_booking": {"type": "boolean"},
    }
)
ATTENDANCE_OUT = page(  # policies._event, with the counts by kind
    shape(
        {
            "appointment_id": ID,
            "kind": _TEXT,
            "start": STAMP,
            "specialist_id": ID,
            "at": STAMP,
            "reason": nullable(_TEXT),
            "by_role": nullable(_TEXT),
        }
    ),
    counts={"type": "object", "additionalProperties": {"type": "integer"}},
)
_DAY_COLUMN = shape(  # schedule._columns
    {
        "id": ID,
        "name": _TEXT,
        "timezone": _TEXT,
        "working_hours": {"type": "array", "items": shape({"start": STAMP, "end": STAMP})},
        "appointments": {
            "type": "array",
            "items": shape(
                {
                    "id": ID,
                    "status": _TEXT,
                    "start": STAMP,
                    "end": STAMP,
                    "calendar_id": ID,
                    "room": nullable(shape({"id": ID, "name": _TEXT})),
                    "patient": shape(
                        {"id": ID, "first_name": nullable(_TEXT), "last_name": nullable(_TEXT)}
                    ),
                }
            ),
        },
    }
)
GRID_OUT = shape(
    {"date": DATE, "timezone": _TEXT, "specialists": {"type": "array", "items": _DAY_COLUMN}}
)
MY_DAY_OUT = shape({"date": DATE, "timezone": _TEXT, "specialist": nullable(_DAY_COLUMN)})
PATIENT_EXPORT_OUT = shape(  # privacy.export_patient, streamed
    {
        "format": _TEXT,
        "organization_id": ID,
        "patient_id": ID,
        "exported_at": STAMP,
        "tables": {
            "type": "object",
            "description": "table name -> its rows about the patient",
            "additionalProperties": {"type": "array", "items": {"type": "object"}},
        },
    }
)
REASONS_OUT = listing(
    shape(
        {
            "id": ID,
            "code": _TEXT,
            "label": _TEXT,
            "position": {"type": "integer"},
            "active": {"type": "boolean"},
        }
    )
)
