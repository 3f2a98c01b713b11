"""Notifications: clinic settings, patient preferences, templates, the outbox and the reminder
schedule (migration m2026_12_03t03: the appointment triggers that write the outbox and plan the
reminders in the transaction of the change).

Piccolo functions run in the caller's tenant transaction and take no connection; raw-SQL ones
(claims with `SKIP LOCKED`, the joined delivery read) take the connection first.
"""

from storage.notifications._delivery import (
    AppointmentNames,
    Recipient,
    appointment_names,
    load_recipient,
    load_recipients,
)
from storage.notifications._outbox import (
    ENQUEUED_KINDS,
    AccountMail,
    OutboxFilter,
    OutboxItem,
    Outcome,
    claim_account_mail,
    claim_outbox,
    enqueue,
    enqueue_password_reset,
    finish_account_mail,
    finish_many,
    finish_outbox,
    list_outbox,
    outbox_due_count,
    record_delivered,
    secret_ref,
)
from storage.notifications._reminders import (
    ClaimedReminders,
    claim_due_reminders,
    plan_as_of,
    reminders_due_count,
)
from storage.notifications._settings import (
    DEFAULT_LEADS_MIN,
    ClinicSettings,
    Preferences,
    QuietHours,
    Template,
    delete_template,
    find_templates,
    get_preferences,
    get_settings,
    get_template,
    list_templates,
    put_preferences,
    put_settings,
    put_template,
)

__all__ = [
    "DEFAULT_LEADS_MIN",
    "ENQUEUED_KINDS",
    "AccountMail",
    "AppointmentNames",
    "ClaimedReminders",
    "ClinicSettings",
    "OutboxFilter",
    "Outcome",
    "OutboxItem",
    "Preferences",
    "QuietHours",
    "Recipient",
    "Template",
    "appointment_names",
    "claim_account_mail",
    "claim_due_reminders",
    "claim_outbox",
    "delete_template",
    "enqueue",
    "enqueue_password_reset",
    "find_templates",
    "finish_account_mail",
    "finish_many",
    "finish_outbox",
    "get_preferences",
    "get_settings",
    "get_template",
    "list_outbox",
    "list_templates",
    "load_recipient",
    "load_recipients",
    "outbox_due_count",
    "plan_as_of",
    "put_preferences",
    "put_settings",
    "put_template",
    "record_delivered",
    "reminders_due_count",
    "secret_ref",
]
