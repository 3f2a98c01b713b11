"""The terms of a public booking, decided in the booking's transaction under the calendar's
lock: whether the clinic's policy makes it a request (an appointment in status `requested`
that keeps its time until staff answer or it expires) and whether the guest's consent to the
privacy policy is required and matches the clinic's current text (422 otherwise, before any
patient record is written). Group classes always book at once (a seat is not worth a request).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from actors.calendar import messages as m
from actors.calendar._state import Hold
from storage.crypto import KeyRing
from storage.scheduling import (
    Appointment,
    AppointmentStatus,
    PublicBookingPolicy,
    consent_failure,
    public_booking_policy,
    record_privacy_consent,
    record_request,
)


@dataclass(frozen=True, slots=True)
class GuestTerms:
    policy: PublicBookingPolicy
    status: AppointmentStatus
    now: datetime


async def guest_terms(
    conn: asyncpg.Connection, hold: Hold, r: m.BookRequest, group: bool
) -> GuestTerms | m.Failure:
    policy = await public_booking_policy(conn, hold.organization_id)
    refused = consent_failure(policy, r.consent)
    if refused is not None:
        code, message = refused
        return m.Failure(422, code, message, {"fields": {"consent": message}})
    requested = not group and policy.mode_of(hold.calendar_id) == "request"
    status = AppointmentStatus.REQUESTED if requested else AppointmentStatus.BOOKED
    return GuestTerms(policy, status, datetime.now(UTC))


async def record_guest_terms(
    conn: asyncpg.Connection,
    keys: KeyRing | None,
    appt: Appointment,
    terms: GuestTerms,
    r: m.BookRequest,
) -> None:
    """The consent in the ledger and, for a request, its pending record (same transaction)."""
    consent_id = None
    if r.consent is not None:
        consent_id = await record_privacy_consent(
            conn, keys, organization_id=appt.organization_id, patient_id=appt.patient_id,
            consent=r.consent,
        )  # fmt: skip
    if appt.status is AppointmentStatus.REQUESTED:
        deadline = terms.policy.request_deadline(terms.now, appt.starts_at)
        await record_request(conn, appt, deadline, consent_id)
