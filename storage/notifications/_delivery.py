"""What the dispatcher needs to deliver one message, read in the organization's transaction:
the patient's contact details (sealed columns opened here, storage/sealed.py), their
preferences, the clinic's settings, and the names an appointment message shows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from storage.crypto import CryptoError, KeyRing
from storage.notifications._settings import (
    ClinicSettings,
    Preferences,
    QuietHours,
    preferences_of,
)
from storage.sealed import open_row


@dataclass(frozen=True, slots=True)
class Recipient:
    """A patient as a message reaches them. Holds personal data: never logged."""

    patient_id: uuid.UUID
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    preferences: Preferences
    clinic_name: str
    clinic_language: str  # the organization's language (the settings may override it)
    clinic_timezone: str
    settings: ClinicSettings

    def __repr__(self) -> str:  # a stray log line must not carry the contact details
        return f"Recipient(patient_id={self.patient_id})"


async def load_recipients(
    conn: asyncpg.Connection, keyring: KeyRing, patient_ids: Sequence[uuid.UUID]
) -> tuple[dict[uuid.UUID, Recipient], set[uuid.UUID]]:
    """The patients with everything a message to them needs (one query), and the ids of those
    whose sealed address does not open; deleted or erased ones are in neither."""
    found = await conn.fetch(
        """SELECT p.id, p.organization_id, p.first_name, p.last_name, p.email, p.phone,
                  o.name AS clinic_name, o.language AS org_language, o.timezone AS org_timezone,
                  s.default_language, s.reminder_leads_min, s.quiet_start_min AS c_quiet_start,
                  s.quiet_end_min AS c_quiet_end, s.timezone AS c_timezone,
                  np.patient_id AS has_prefs, np.language, np.email_enabled, np.sms_enabled,
                  np.in_app_enabled, np.reminders_enabled, np.updates_enabled,
                  np.quiet_start_min, np.quiet_end_min, np.timezone
           FROM patients p
           JOIN organizations o ON o.id = p.organization_id
           LEFT JOIN notification_settings s ON s.organization_id = p.organization_id
           LEFT JOIN notification_preferences np ON np.organization_id = p.organization_id
                                                AND np.patient_id = p.id
           WHERE p.id = ANY ($1::uuid[]) AND p.deleted_at IS NULL""",
        list(set(patient_ids)),
    )
    readable: dict[uuid.UUID, Recipient] = {}
    unreadable: set[uuid.UUID] = set()
    for r in found:
        try:
            readable[r["id"]] = _recipient(keyring, dict(r.items()))
        except CryptoError:
            unreadable.add(r["id"])
    return readable, unreadable


async def load_recipient(
    conn: asyncpg.Connection, keyring: KeyRing, patient_id: uuid.UUID
) -> Recipient | None:
    """One patient (raises CryptoError when their sealed address does not open)."""
    readable, unreadable = await load_recipients(conn, keyring, [patient_id])
    if patient_id in unreadable:
        raise CryptoError("a sealed contact detail does not open")
    return readable.get(patient_id)


def _recipient(keyring: KeyRing, r: dict[str, Any]) -> Recipient:
    opened = open_row(
        keyring,
        "patients",
        {k: r[k] for k in ("id", "organization_id", "email", "phone")},
    )
    prefs = preferences_of(r) if r["has_prefs"] is not None else Preferences()
    quiet = (
        QuietHours(r["c_quiet_start"], r["c_quiet_end"])
        if r["c_quiet_start"] is not None and r["c_quiet_end"] is not None
        else None
    )
    leads = tuple(r["reminder_leads_min"]) if r["reminder_leads_min"] is not None else ()
    settings = ClinicSettings(r["default_language"], leads, quiet, r["c_timezone"])
    return Recipient(
        patient_id=r["id"],
        first_name=r["first_name"],
        last_name=r["last_name"],
        email=opened["email"] or None,
        phone=opened["phone"] or None,
        preferences=prefs,
        clinic_name=r["clinic_name"],
        clinic_language=r["org_language"],
        clinic_timezone=r["org_timezone"],
        settings=settings,
    )


@dataclass(frozen=True, slots=True)
class AppointmentNames:
    """Names an appointment message shows, by id (specialists and services of the batch)."""

    specialists: dict[uuid.UUID, str]
    services: dict[uuid.UUID, str]


async def appointment_names(
    conn: asyncpg.Connection,
    specialist_ids: Sequence[uuid.UUID],
    service_ids: Sequence[uuid.UUID],
) -> AppointmentNames:
    found = await conn.fetch(
        """SELECT 'specialist' AS what, id, name FROM specialists WHERE id = ANY ($1::uuid[])
           UNION ALL
           SELECT 'service', id, name FROM services WHERE id = ANY ($2::uuid[])""",
        list(set(specialist_ids)),
        list(set(service_ids)),
    )
    names = AppointmentNames({}, {})
    for r in found:
        (names.specialists if r["what"] == "specialist" else names.services)[r["id"]] = r["name"]
    return names
