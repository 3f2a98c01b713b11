"""Custom fields and versioned forms: a clinic's fields, form templates whose publishing freezes
a version, patients' form instances pinned to a version (answers sealed at rest, a signed form
immutable in the database), and intake by link for an appointment (migration m2026_12_04t02).

Functions without a connection run Piccolo (or Piccolo's raw queries) on the caller's tenant
transaction; those that take one need SQL Piccolo cannot say (locks, upserts, joins).

`form_document(keys, instance_id)` is what the records' documents print for a signed form:
`{"id", "patient_id", "patient_name", "status", "template": {"id", "name", "version"},
  "fields": [{"key", "label", "type", "options", "required"}], "answers": {key: value},
  "signature": None | {"signer_name", "signed_at", "method", "image", "ip", "user_agent"}}`.
"""

from storage.forms._catalog import (
    KINDS,
    create_field,
    create_template,
    get_template,
    get_version,
    latest_version,
    list_fields,
    list_templates,
    list_versions,
    publish,
    update_field,
    update_template,
    version_fields,
)
from storage.forms._fields import TYPES, Field, check_answers, check_field
from storage.forms._instances import (
    ACTIONS,
    Signature,
    create_instance,
    fill,
    form_document,
    get_instance,
    instance_patient,
    list_for_patient,
    sign,
    submit,
)
from storage.forms._intake import (
    DEFAULT_TTL,
    MAX_TTL,
    MIN_TTL,
    NOT_SENT,
    IntakeExpired,
    IntakeSubmitted,
    Sent,
    appointment,
    complete_intake,
    get_intake,
    intake_organization,
    open_intake,
    send_intake,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_TTL",
    "KINDS",
    "MAX_TTL",
    "MIN_TTL",
    "NOT_SENT",
    "TYPES",
    "Field",
    "IntakeExpired",
    "IntakeSubmitted",
    "Sent",
    "Signature",
    "appointment",
    "check_answers",
    "check_field",
    "complete_intake",
    "create_field",
    "create_instance",
    "create_template",
    "fill",
    "form_document",
    "get_instance",
    "get_intake",
    "get_template",
    "get_version",
    "instance_patient",
    "intake_organization",
    "latest_version",
    "list_fields",
    "list_for_patient",
    "list_templates",
    "list_versions",
    "open_intake",
    "publish",
    "send_intake",
    "sign",
    "submit",
    "update_field",
    "update_template",
    "version_fields",
]
