"""Consents, care-team grants and the access audit (partitioned by month)."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, Boolean, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class PatientConsents(Table, tablename="patient_consents", db=ENGINE):
    """Primary key (id, organization_id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    purpose = Text()
    policy_version = Text()
    granted = Boolean()
    recorded_by = UUID(null=True, default=None)
    recorded_role = Text(null=True, default=None)
    channel = Text()
    ip = Text(null=True, default=None)
    request_id = Text(null=True, default=None)
    recorded_at = Timestamptz()
    policy_sha256 = Text(null=True, default=None)  # the text accepted (privacy_policy)
    ip_sealed = Text(null=True, default=None)  # the address, sealed (storage/sealed.py)


class CareTeamGrants(Table, tablename="care_team_grants", db=ENGINE):
    """Primary key (id, organization_id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    specialist_id = UUID()
    granted_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    revoked_at = Timestamptz(null=True, default=None)
    revoked_by = UUID(null=True, default=None)


class AuditLog(Table, tablename="audit_log", db=ENGINE):
    """Primary key (id, created_at); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID(null=True, default=None)
    actor_user_id = UUID(null=True, default=None)
    actor_role = Text(null=True, default=None)
    action = Text()
    entity = Text()
    entity_id = Text(null=True, default=None)
    diff = JSONB()
    request_id = Text(null=True, default=None)
    ip = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    patient_id = UUID(null=True, default=None)
