"""Notifications: clinic settings, patient preferences, templates, the outbox (patients and
accounts) and the reminder schedule. The migration owns constraints, triggers and row-level
security; these classes describe the columns for the query builder."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, Array, Boolean, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class NotificationSettings(Table, tablename="notification_settings", db=ENGINE):
    organization_id = UUID(primary_key=True)
    default_language = Text(null=True, default=None)
    reminder_leads_min = Array(Integer())
    quiet_start_min = Integer(null=True, default=None)
    quiet_end_min = Integer(null=True, default=None)
    timezone = Text(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class NotificationPreferences(Table, tablename="notification_preferences", db=ENGINE):
    """Primary key (organization_id, patient_id); Piccolo knows one column of it."""

    organization_id = UUID(primary_key=True)
    patient_id = UUID()
    language = Text(null=True, default=None)
    email_enabled = Boolean(default=True)
    sms_enabled = Boolean(default=True)
    in_app_enabled = Boolean(default=True)
    reminders_enabled = Boolean(default=True)
    updates_enabled = Boolean(default=True)
    quiet_start_min = Integer(null=True, default=None)
    quiet_end_min = Integer(null=True, default=None)
    timezone = Text(null=True, default=None)
    updated_at = Timestamptz(default=TimestamptzNow())


class NotificationTemplates(Table, tablename="notification_templates", db=ENGINE):
    """Primary key (organization_id, kind, channel, language); Piccolo knows one column of it."""

    organization_id = UUID(primary_key=True)
    kind = Text()
    channel = Text()
    language = Text()
    subject = Text(default="")
    body = Text()
    updated_at = Timestamptz(default=TimestamptzNow())


class NotificationOutbox(Table, tablename="notification_outbox", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    organization_id = UUID(primary_key=True)
    id = UUID(default=UUID4())
    kind = Text()
    patient_id = UUID()
    appointment_id = UUID(null=True, default=None)
    reminder_id = UUID(null=True, default=None)
    dedupe_key = Text()
    data = JSONB()
    status = Text(default="pending")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    delivered = Array(Text())
    last_error = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)


class AccountMailOutbox(Table, tablename="account_mail_outbox", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    kind = Text()
    email = Text()
    language = Text(default="en")
    secret = Text(null=True, default=None)  # sealed (storage/crypto.py)
    status = Text(default="pending")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    last_error = Text(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)


class AppointmentReminders(Table, tablename="appointment_reminders", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    organization_id = UUID(primary_key=True)
    id = UUID(default=UUID4())
    appointment_id = UUID()
    patient_id = UUID()
    lead_min = Integer()
    starts_at = Timestamptz()
    due_at = Timestamptz()
    status = Text(default="planned")
    sent_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
