"""Clinic notification settings, patient preferences and template overrides (Piccolo: plain
reads and writes inside the caller's tenant transaction)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.orm import first, rows
from storage.tables._notifications import (
    NotificationPreferences,
    NotificationSettings,
    NotificationTemplates,
)

DEFAULT_LEADS_MIN: tuple[int, ...] = (24 * 60, 2 * 60)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Minutes of the local day [start, end); wraps past midnight when start > end."""

    start_min: int
    end_min: int


@dataclass(frozen=True, slots=True)
class ClinicSettings:
    default_language: str | None  # None: the organization's language
    reminder_leads_min: tuple[int, ...]
    quiet: QuietHours | None
    timezone: str | None  # None: the organization's time zone


@dataclass(frozen=True, slots=True)
class Preferences:
    language: str | None = None
    email: bool = True
    sms: bool = True
    in_app: bool = True
    reminders: bool = True
    updates: bool = True
    quiet: QuietHours | None = None
    timezone: str | None = None


def _quiet(row: dict[str, Any]) -> QuietHours | None:
    start, end = row.get("quiet_start_min"), row.get("quiet_end_min")
    return None if start is None or end is None else QuietHours(start, end)


async def get_settings(org_id: uuid.UUID) -> ClinicSettings:
    row = await first(
        NotificationSettings.select().where(NotificationSettings.organization_id == org_id).first()
    )
    if row is None:
        return ClinicSettings(None, DEFAULT_LEADS_MIN, None, None)
    return ClinicSettings(
        row["default_language"], tuple(row["reminder_leads_min"]), _quiet(row), row["timezone"]
    )


async def put_settings(org_id: uuid.UUID, settings: ClinicSettings) -> ClinicSettings:
    """Replace the clinic's settings. New leads apply to appointments booked or moved from now
    on; reminders already planned keep theirs."""
    values: dict[Any, Any] = {
        NotificationSettings.default_language: settings.default_language,
        NotificationSettings.reminder_leads_min: list(settings.reminder_leads_min),
        NotificationSettings.quiet_start_min: settings.quiet.start_min if settings.quiet else None,
        NotificationSettings.quiet_end_min: settings.quiet.end_min if settings.quiet else None,
        NotificationSettings.timezone: settings.timezone,
        NotificationSettings.updated_at: datetime.now(UTC),
    }
    exists = await NotificationSettings.exists().where(
        NotificationSettings.organization_id == org_id
    )
    if exists:
        await NotificationSettings.update(values).where(
            NotificationSettings.organization_id == org_id
        )
    else:
        await NotificationSettings.insert(
            NotificationSettings(
                organization_id=org_id, **{c._meta.name: v for c, v in values.items()}
            )
        )
    return settings


async def get_preferences(patient_id: uuid.UUID) -> Preferences:
    row = await first(
        NotificationPreferences.select()
        .where(NotificationPreferences.patient_id == patient_id)
        .first()
    )
    return Preferences() if row is None else preferences_of(row)


def preferences_of(row: dict[str, Any]) -> Preferences:
    return Preferences(
        language=row["language"],
        email=row["email_enabled"],
        sms=row["sms_enabled"],
        in_app=row["in_app_enabled"],
        reminders=row["reminders_enabled"],
        updates=row["updates_enabled"],
        quiet=_quiet(row),
        timezone=row["timezone"],
    )


async def put_preferences(
    org_id: uuid.UUID, patient_id: uuid.UUID, prefs: Preferences
) -> Preferences:
    values: dict[Any, Any] = {
        NotificationPreferences.language: prefs.language,
        NotificationPreferences.email_enabled: prefs.email,
        NotificationPreferences.sms_enabled: prefs.sms,
        NotificationPreferences.in_app_enabled: prefs.in_app,
        NotificationPreferences.reminders_enabled: prefs.reminders,
        NotificationPreferences.updates_enabled: prefs.updates,
        NotificationPreferences.quiet_start_min: prefs.quiet.start_min if prefs.quiet else None,
        NotificationPreferences.quiet_end_min: prefs.quiet.end_min if prefs.quiet else None,
        NotificationPreferences.timezone: prefs.timezone,
        NotificationPreferences.updated_at: datetime.now(UTC),
    }
    where = NotificationPreferences.patient_id == patient_id
    if await NotificationPreferences.exists().where(where):
        await NotificationPreferences.update(values).where(where)
    else:
        await NotificationPreferences.insert(
            NotificationPreferences(
                organization_id=org_id,
                patient_id=patient_id,
                **{c._meta.name: v for c, v in values.items()},
            )
        )
    return prefs


@dataclass(frozen=True, slots=True)
class Template:
    kind: str
    channel: str
    language: str
    subject: str
    body: str
    updated_at: datetime | None = None


def _template(row: dict[str, Any]) -> Template:
    return Template(
        row["kind"], row["channel"], row["language"], row["subject"], row["body"],
        row["updated_at"],
    )  # fmt: skip


async def list_templates() -> list[Template]:
    t = NotificationTemplates
    found = await rows(t.select().order_by(t.kind, t.channel, t.language))
    return [_template(r) for r in found]


async def find_templates(kinds: Sequence[str]) -> list[Template]:
    """The clinic's overrides of these kinds (every channel and language)."""
    found = await rows(
        NotificationTemplates.select().where(NotificationTemplates.kind.is_in(list(kinds)))
    )
    return [_template(r) for r in found]


def _key(kind: str, channel: str, language: str) -> Any:
    return (
        (NotificationTemplates.kind == kind)
        & (NotificationTemplates.channel == channel)
        & (NotificationTemplates.language == language)
    )


async def get_template(kind: str, channel: str, language: str) -> Template | None:
    row = await first(NotificationTemplates.select().where(_key(kind, channel, language)).first())
    return None if row is None else _template(row)


async def put_template(org_id: uuid.UUID, template: Template) -> Template:
    now = datetime.now(UTC)
    where = _key(template.kind, template.channel, template.language)
    if await NotificationTemplates.exists().where(where):
        await NotificationTemplates.update(
            {
                NotificationTemplates.subject: template.subject,
                NotificationTemplates.body: template.body,
                NotificationTemplates.updated_at: now,
            }
        ).where(where)
    else:
        await NotificationTemplates.insert(
            NotificationTemplates(
                organization_id=org_id,
                kind=template.kind,
                channel=template.channel,
                language=template.language,
                subject=template.subject,
                body=template.body,
                updated_at=now,
            )
        )
    return Template(
        template.kind, template.channel, template.language, template.subject, template.body, now
    )


async def delete_template(kind: str, channel: str, language: str) -> bool:
    where = _key(kind, channel, language)
    if not await NotificationTemplates.exists().where(where):
        return False
    await NotificationTemplates.delete().where(where)
    return True
