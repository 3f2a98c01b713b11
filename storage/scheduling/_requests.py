"""Guest booking requests and the privacy-policy consent of public bookings.

A clinic's public booking policy says whether a public booking is booked at once or is a
*request* (clinic-wide, overridden per calendar), how long a request waits for an answer, and
whether the guest must accept the clinic's privacy policy (which version, the SHA-256 of its text).

A request is an appointment in status `requested` (it occupies its time like a booking) plus a
`booking_requests` row: pending -> confirmed | declined | expired. Only the calendar shard writes
either, in one transaction (the booking path for the request, a status write for a decision).
Every function runs in the tenant transaction of its caller, except `due_requests` (the expiry
sweep's claim across organizations, on the schema owner's connection).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import asyncpg

from storage import audit
from storage.crypto import LEGACY, FieldRef, KeyRing
from storage.scheduling._appointments import Appointment, transition_appointment
from storage.scheduling._errors import NotFound
from storage.scheduling._states import Action

REQUEST = "request"
INSTANT = "instant"
MODES = (INSTANT, REQUEST)
PRIVACY_PURPOSE = "privacy_policy"


class RequestStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    EXPIRED = "expired"


# The request's own machine, driven by the appointment action that decides it.
DECIDED_BY: Mapping[Action, RequestStatus] = {
    Action.APPROVE: RequestStatus.CONFIRMED,
    Action.DECLINE: RequestStatus.DECLINED,
    Action.EXPIRE: RequestStatus.EXPIRED,
}


@dataclass(frozen=True, slots=True)
class PublicBookingPolicy:
    mode: str = INSTANT
    request_ttl: timedelta = timedelta(days=1)
    consent_required: bool = False
    privacy_policy_version: str | None = None
    privacy_policy_sha256: str | None = None
    calendars: Mapping[uuid.UUID, str] = field(default_factory=dict)

    def mode_of(self, calendar_id: uuid.UUID) -> str:
        return self.calendars.get(calendar_id, self.mode)

    def request_deadline(self, now: datetime, starts_at: datetime) -> datetime:
        """Unanswered, a request ends after the policy's time, and never after its start."""
        return min(now + self.request_ttl, starts_at)

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "request_ttl_min": int(self.request_ttl.total_seconds() // 60),
            "consent_required": self.consent_required,
            "privacy_policy_version": self.privacy_policy_version,
            "privacy_policy_sha256": self.privacy_policy_sha256,
            "calendars": {str(k): v for k, v in sorted(self.calendars.items())},
        }


@dataclass(frozen=True, slots=True)
class GuestConsent:
    """What the guest accepted on the booking page, and the request it came with. The address
    is personal data: it is stored sealed, never in clear, and never printed."""

    policy_version: str
    policy_sha256: str
    ip: str | None = field(default=None, repr=False)
    request_id: str | None = None


def consent_failure(
    policy: PublicBookingPolicy, consent: GuestConsent | None
) -> tuple[str, str] | None:
    """(code, message) when the clinic requires consent and this booking has none, or one
    given to another text than the clinic's current policy; None when it may go on."""
    if not policy.consent_required:
        return None
    if consent is None:
        return "consent_required", "this clinic requires consent to its privacy policy"
    if (consent.policy_version, consent.policy_sha256) != (
        policy.privacy_policy_version,
        policy.privacy_policy_sha256,
    ):
        return "consent_outdated", "the privacy policy changed; show the current one again"
    return None


async def public_booking_policy(conn: asyncpg.Connection, org: uuid.UUID) -> PublicBookingPolicy:
    """The organization's policy (the defaults when it has set none) with its calendars' modes.
    (Filtered by `org` as well as by row-level security, like the scheduling policy.)"""
    row = await conn.fetchrow(
        "SELECT * FROM public_booking_policies WHERE organization_id = $1", org
    )
    modes = await conn.fetch(
        "SELECT calendar_id, mode FROM calendar_booking_modes WHERE organization_id = $1", org
    )
    calendars = {r["calendar_id"]: r["mode"] for r in modes}
    if row is None:
        return PublicBookingPolicy(calendars=calendars)
    return PublicBookingPolicy(
        row["mode"], timedelta(minutes=row["request_ttl_min"]), row["consent_required"],
        row["privacy_policy_version"], row["privacy_policy_sha256"], calendars,
    )  # fmt: skip


async def set_public_booking_policy(
    conn: asyncpg.Connection,
    org: uuid.UUID,
    values: Mapping[str, Any],
    calendars: Mapping[uuid.UUID, str | None],
) -> PublicBookingPolicy:
    """Change some fields (the others keep theirs) and set or clear calendars' own modes.
    Raises NotFound("calendar") for a calendar of no such id in the organization."""
    current = (await public_booking_policy(conn, org)).as_json()
    merged = {k: current[k] for k in values.keys() | current.keys() if k != "calendars"}
    merged.update(values)
    await conn.execute(
        """INSERT INTO public_booking_policies (organization_id, mode, request_ttl_min,
             consent_required, privacy_policy_version, privacy_policy_sha256)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (organization_id) DO UPDATE SET mode = EXCLUDED.mode,
             request_ttl_min = EXCLUDED.request_ttl_min,
             consent_required = EXCLUDED.consent_required,
             privacy_policy_version = EXCLUDED.privacy_policy_version,
             privacy_policy_sha256 = EXCLUDED.privacy_policy_sha256, updated_at = now()""",
        org, merged["mode"], merged["request_ttl_min"], merged["consent_required"],
        merged["privacy_policy_version"], merged["privacy_policy_sha256"],
    )  # fmt: skip
    for calendar_id, mode in calendars.items():
        found = await conn.fetchval(
            "SELECT 1 FROM calendars WHERE organization_id = $1 AND id = $2", org, calendar_id
        )
        if found is None:
            raise NotFound("calendar")
        if mode is None:
            await conn.execute(
                "DELETE FROM calendar_booking_modes WHERE calendar_id = $1", calendar_id
            )
        else:
            await conn.execute(
                """INSERT INTO calendar_booking_modes (organization_id, calendar_id, mode)
                   VALUES ($1, $2, $3)
                   ON CONFLICT (organization_id, calendar_id) DO UPDATE SET mode = $3""",
                org, calendar_id, mode,
            )  # fmt: skip
    return await public_booking_policy(conn, org)


async def record_privacy_consent(
    conn: asyncpg.Connection,
    keys: KeyRing | None,
    *,
    organization_id: uuid.UUID,
    patient_id: uuid.UUID,
    consent: GuestConsent,
) -> uuid.UUID:
    """Append the guest's acceptance to the consent ledger (purpose `privacy_policy`, channel
    `web`): the version and text digest they accepted, when (the database's clock), the request
    id, and the address sealed to this row."""
    row_id = uuid.uuid4()
    ip = consent.ip
    if ip is not None:
        where = FieldRef("patient_consents", "ip_sealed", row_id, organization_id)
        ip = keys.seal(ip, where) if keys is not None else LEGACY + ip
    await conn.execute(
        """INSERT INTO patient_consents (id, organization_id, patient_id, purpose,
             policy_version, policy_sha256, granted, recorded_role, channel, ip_sealed,
             request_id)
           VALUES ($1, $2, $3, $4, $5, $6, true, 'public', 'web', $7, $8)""",
        row_id, organization_id, patient_id, PRIVACY_PURPOSE, consent.policy_version,
        consent.policy_sha256, ip, consent.request_id,
    )  # fmt: skip
    return row_id


async def record_request(
    conn: asyncpg.Connection, appt: Appointment, expires_at: datetime, consent_id: uuid.UUID | None
) -> None:
    await conn.execute(
        """INSERT INTO booking_requests (organization_id, appointment_id, patient_id,
             expires_at, consent_id) VALUES ($1, $2, $3, $4, $5)""",
        appt.organization_id, appt.id, appt.patient_id, expires_at, consent_id,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class BookingRequest:
    appointment_id: uuid.UUID
    status: RequestStatus
    expires_at: datetime
    decided_at: datetime | None
    consent_id: uuid.UUID | None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "expires_at": self.expires_at,
            "decided_at": self.decided_at,
            "consented": self.consent_id is not None,
        }


def _request(row: Mapping[str, Any]) -> BookingRequest:
    return BookingRequest(
        row["appointment_id"], RequestStatus(row["status"]), row["expires_at"],
        row["decided_at"], row["consent_id"],
    )  # fmt: skip


async def booking_request(conn: asyncpg.Connection, appointment_id: uuid.UUID) -> BookingRequest:
    row = await conn.fetchrow(
        "SELECT * FROM booking_requests WHERE appointment_id = $1", appointment_id
    )
    if row is None:
        raise NotFound("booking request")
    return _request(row)


async def decide_request(
    conn: asyncpg.Connection,
    *,
    actor: audit.AuditActor,
    appointment_id: uuid.UUID,
    action: Action,
    now: datetime,
) -> tuple[Appointment, Appointment]:
    """Approve, decline or expire a pending request, with its appointment, under a row lock.
    An approval that comes after the deadline expires the request instead (the caller sees
    the appointment cancelled and answers 410). Raises NotFound for no such request and
    InvalidTransition for a request already decided (its appointment is no longer requested)."""
    row = await conn.fetchrow(
        "SELECT * FROM booking_requests WHERE appointment_id = $1 FOR UPDATE", appointment_id
    )
    if row is None:
        raise NotFound("booking request")
    if action is Action.APPROVE and row["status"] == "pending" and row["expires_at"] <= now:
        action = Action.EXPIRE
    before, after = await transition_appointment(
        conn, actor=actor, appointment_id=appointment_id, action=action
    )
    await conn.execute(
        """UPDATE booking_requests SET status = $2, decided_by = $3, decided_role = $4,
             decided_at = $5 WHERE appointment_id = $1""",
        appointment_id, DECIDED_BY[action].value, actor.user_id, actor.role, now,
    )  # fmt: skip
    return before, after


@dataclass(frozen=True, slots=True)
class DueRequest:
    organization_id: uuid.UUID
    calendar_id: uuid.UUID
    appointment_id: uuid.UUID


async def due_requests(conn: asyncpg.Connection, now: datetime, limit: int) -> list[DueRequest]:
    """Pending requests past their deadline, every organization's (schema owner's connection):
    the sweep asks each one's calendar shard to expire it."""
    rows = await conn.fetch(
        """SELECT r.organization_id, a.calendar_id, r.appointment_id
             FROM booking_requests r
             JOIN appointments a ON a.organization_id = r.organization_id
                                AND a.id = r.appointment_id
            WHERE r.status = 'pending' AND r.expires_at <= $1
            ORDER BY r.expires_at LIMIT $2""",
        now,
        limit,
    )
    return [DueRequest(r["organization_id"], r["calendar_id"], r["appointment_id"]) for r in rows]


async def public_terms(
    conn: asyncpg.Connection, org: uuid.UUID, calendar_id: uuid.UUID
) -> dict[str, Any] | None:
    """What a public booking of the calendar becomes and what the guest must accept; None for
    a calendar that is not public and active (the public API answers 404 for it)."""
    found = await conn.fetchval(
        """SELECT 1 FROM calendars WHERE organization_id = $1 AND id = $2 AND public AND active
             AND deleted_at IS NULL""",
        org,
        calendar_id,
    )
    if found is None:
        return None
    policy = await public_booking_policy(conn, org)
    return {
        "mode": policy.mode_of(calendar_id),
        "consent_required": policy.consent_required,
        "privacy_policy_version": policy.privacy_policy_version,
        "privacy_policy_sha256": policy.privacy_policy_sha256,
    }
