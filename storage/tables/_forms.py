"""Custom fields, form templates and their published versions, form instances of patients, and
appointments' intake status (migration m2026_12_04t02). Answers, signers' names and drawn
signatures hold sealed values (storage/forms)."""

from __future__ import annotations

from piccolo.columns import (
    JSONB,
    UUID,
    Array,
    Boolean,
    Bytea,
    DoublePrecision,
    Integer,
    Text,
    Timestamptz,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class FormFields(Table, tablename="form_fields", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    key = Text()
    label = Text()
    field_type = Text()
    options = JSONB(null=True, default=None)
    min_value = DoublePrecision(null=True, default=None)
    max_value = DoublePrecision(null=True, default=None)
    required = Boolean(default=False)
    red_flag = Boolean(default=False)
    alert_at = DoublePrecision(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class FormTemplates(Table, tablename="form_templates", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    name = Text()
    kind = Text()
    field_ids = Array(UUID())
    current_version = Integer(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class FormTemplateVersions(Table, tablename="form_template_versions", db=ENGINE):
    """Primary key (organization_id, id); immutable once written (a trigger refuses changes)."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    template_id = UUID()
    version = Integer()
    name = Text()
    kind = Text()
    fields = JSONB()
    published_by = UUID(null=True, default=None)
    published_at = Timestamptz(default=TimestamptzNow())


class FormInstances(Table, tablename="form_instances", db=ENGINE):
    """Primary key (organization_id, id); a signed row is immutable (a trigger refuses changes)."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    appointment_id = UUID(null=True, default=None)
    template_id = UUID()
    version_id = UUID()
    status = Text(default="open")
    answers = Text(null=True, default=None)  # sealed JSON
    signer_name = Text(null=True, default=None)  # sealed
    signature_method = Text(null=True, default=None)
    signature_image = Text(null=True, default=None)  # sealed base64 PNG
    signer_ip = Text(null=True, default=None)  # inet
    signer_user_agent = Text(null=True, default=None)
    signed_by = UUID(null=True, default=None)
    signed_at = Timestamptz(null=True, default=None)
    submitted_at = Timestamptz(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class AppointmentIntakes(Table, tablename="appointment_intakes", db=ENGINE):
    """Primary key (organization_id, appointment_id); Piccolo knows one column of it."""

    organization_id = UUID()
    appointment_id = UUID(primary_key=True)
    patient_id = UUID()
    status = Text(default="sent")
    form_id = UUID()
    token_hash = Bytea()
    token_id = UUID()
    expires_at = Timestamptz()
    sent_by = UUID(null=True, default=None)
    sent_at = Timestamptz(default=TimestamptzNow())
    completed_at = Timestamptz(null=True, default=None)
