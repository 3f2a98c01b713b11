"""Guest booking requests and the clinic's public booking policy (migration m2026_12_06t02)."""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from storage.orm import ENGINE


class PublicBookingPolicies(Table, tablename="public_booking_policies", db=ENGINE):
    organization_id = UUID(primary_key=True)
    mode = Text(default="instant")
    request_ttl_min = Integer(default=1440)
    consent_required = Boolean(default=False)
    privacy_policy_version = Text(null=True, default=None)
    privacy_policy_sha256 = Text(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class CalendarBookingModes(Table, tablename="calendar_booking_modes", db=ENGINE):
    """Primary key (organization_id, calendar_id): Piccolo knows one column of it."""

    calendar_id = UUID(primary_key=True)
    organization_id = UUID()
    mode = Text()


class BookingRequests(Table, tablename="booking_requests", db=ENGINE):
    """Primary key (organization_id, appointment_id): Piccolo knows one column of it."""

    appointment_id = UUID(primary_key=True)
    organization_id = UUID()
    patient_id = UUID()
    status = Text(default="pending")
    expires_at = Timestamptz()
    consent_id = UUID(null=True, default=None)
    decided_by = UUID(null=True, default=None)
    decided_role = Text(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
