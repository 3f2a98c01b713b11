"""Intake by link: staff send a form for an appointment, the patient answers it without an
account through a single-purpose token.

The token is 32 random bytes (URL-safe text); only its SHA-256 is stored. The link that carries
it reaches the patient through the notification outbox sealed (storage.notifications `secrets`,
erased once sent), so it is in clear nowhere at rest, nor in any event. Each appointment has one
intake row: `sent` (a link is out; sending again issues a new link and the old one stops
working), then `completed` once the patient submitted; no row means `not_sent`."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from storage import notifications
from storage.crypto import KeyRing
from storage.errors import Conflict, DomainError, NotFound
from storage.forms._instances import Signature, create_instance, get_instance, submit
from storage.orm import first
from storage.tables._forms import AppointmentIntakes

Row = dict[str, Any]
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
MIN_TTL = timedelta(hours=1)
MAX_TTL = timedelta(days=30)
DEFAULT_TTL = timedelta(days=7)
NOT_SENT = "not_sent"


class IntakeExpired(DomainError):
    """The link's time ran out before the patient submitted (REST: 410 Gone)."""

    def __init__(self) -> None:
        super().__init__("gone", "this intake link has expired")


class IntakeSubmitted(Conflict):
    def __init__(self) -> None:
        super().__init__("this intake form was already submitted", code="intake_submitted")


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class Sent:
    """An intake just sent: its row and the link (shown once; stored nowhere in clear)."""

    intake: Row
    form: Row
    token: str
    link: str

    def __repr__(self) -> str:
        return f"Sent(appointment_id={self.intake['appointment_id']})"


async def appointment(conn: asyncpg.Connection, appointment_id: uuid.UUID) -> Row | None:
    found = await conn.fetchrow(
        """SELECT id, patient_id, specialist_id, starts_at, ends_at, status
           FROM appointments WHERE id = $1""",
        appointment_id,
    )
    return None if found is None else dict(found.items())


async def get_intake(appointment_id: uuid.UUID) -> Row | None:
    """The appointment's intake row (None: never sent)."""
    return await first(
        AppointmentIntakes.select(
            *(c for c in AppointmentIntakes.all_columns() if c._meta.name != "token_hash")
        )
        .where(AppointmentIntakes.appointment_id == appointment_id)
        .first()
    )


async def send_intake(
    conn: asyncpg.Connection,
    ring: KeyRing,
    org: uuid.UUID,
    *,
    appt: Mapping[str, Any],
    template_id: uuid.UUID,
    ttl: timedelta,
    by: uuid.UUID | None,
    link_of: Callable[[str], str],
) -> Sent:
    """Send (or send again) the intake form of the appointment: an open form pinned to the
    template's published version, a new token valid for `ttl`, the status `sent`, and the
    patient's `intake_request` message with the link (`link_of(token)`), all in `conn`'s
    transaction. Conflict once the patient has completed it, or while a link for another
    template is out."""
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise ValueError("ttl out of bounds")
    if appt["status"] == "cancelled":
        raise Conflict("the appointment is cancelled", code="appointment_cancelled")
    current = await conn.fetchrow(
        """SELECT a.status, a.form_id, f.template_id FROM appointment_intakes a
           JOIN form_instances f ON f.organization_id = a.organization_id AND f.id = a.form_id
           WHERE a.appointment_id = $1 FOR UPDATE OF a""",
        appt["id"],
    )
    if current is not None and current["status"] == "completed":
        raise IntakeSubmitted()
    if current is not None and current["template_id"] != template_id:
        raise Conflict(
            "an intake form of another template is out for this appointment",
            {"form_id": current["form_id"]},
            code="intake_pending",
        )
    if current is None:
        form = await create_instance(
            conn, ring, org, patient_id=appt["patient_id"], template_id=template_id,
            appointment_id=appt["id"], by=by,
        )  # fmt: skip
    else:
        found = await get_instance(ring, current["form_id"])
        assert found is not None
        form = found
    token = secrets.token_urlsafe(32)
    token_id = uuid.uuid4()
    expires_at = datetime.now(UTC) + ttl
    row = await conn.fetchrow(
        """INSERT INTO appointment_intakes (organization_id, appointment_id, patient_id, status,
                                            form_id, token_hash, token_id, expires_at, sent_by)
           VALUES ($1, $2, $3, 'sent', $4, $5, $6, $7, $8)
           ON CONFLICT (organization_id, appointment_id) DO UPDATE
              SET token_hash = excluded.token_hash, token_id = excluded.token_id,
                  expires_at = excluded.expires_at, sent_by = excluded.sent_by, sent_at = now()
           RETURNING organization_id, appointment_id, patient_id, status, form_id, token_id,
                     expires_at, sent_by, sent_at, completed_at""",
        org, appt["id"], appt["patient_id"], form["id"], token_hash(token), token_id,
        expires_at, by,
    )  # fmt: skip
    link = link_of(token)
    await notifications.enqueue(
        conn,
        organization_id=org,
        kind="intake_request",
        patient_id=appt["patient_id"],
        appointment_id=appt["id"],
        dedupe_key=f"{appt['id']}:{token_id}",
        data={
            "form_id": str(form["id"]),
            "starts_at": appt["starts_at"].isoformat(),
            "expires_at": expires_at.isoformat(),
        },
        secrets={"link": link},
        keyring=ring,
    )
    return Sent(dict(row.items()), form, token, link)


async def intake_organization(conn: asyncpg.Connection, token: str) -> uuid.UUID | None:
    """The organization of a token, asked without a tenant (any transaction of the application
    role); None for a token that is malformed or unknown."""
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        return None
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT form_intake_organization($1)", token_hash(token)
    )
    return found


async def _by_token(conn: asyncpg.Connection, token: str, *, lock: bool) -> Row:
    """The intake of a live token, inside its organization's transaction: NotFound for an
    unknown (or replaced) token, IntakeSubmitted once completed, IntakeExpired after its time."""
    found = await conn.fetchrow(
        f"""SELECT a.*, p.starts_at, p.ends_at, o.name AS clinic_name
            FROM appointment_intakes a
            JOIN appointments p ON p.organization_id = a.organization_id
                               AND p.id = a.appointment_id
            JOIN organizations o ON o.id = a.organization_id
            WHERE a.token_hash = $1{" FOR UPDATE OF a" if lock else ""}""",
        token_hash(token),
    )
    if found is None:
        raise NotFound("intake")
    if found["status"] == "completed":
        raise IntakeSubmitted()
    if found["expires_at"] <= datetime.now(UTC):
        raise IntakeExpired()
    return dict(found.items())


async def open_intake(conn: asyncpg.Connection, ring: KeyRing, token: str) -> tuple[Row, Row]:
    """(the intake with its appointment's time and the clinic's name, its form)."""
    intake = await _by_token(conn, token, lock=False)
    form = await get_instance(ring, intake["form_id"])
    assert form is not None
    return intake, form


async def complete_intake(
    conn: asyncpg.Connection,
    ring: KeyRing,
    token: str,
    answers: Mapping[str, Any],
    signature: Signature | None,
) -> tuple[Row, Row]:
    """The patient's submission: the form answered completely (and signed, with a signature),
    the intake `completed`; the token is spent. Returns (intake, form)."""
    intake = await _by_token(conn, token, lock=True)
    form = await submit(conn, ring, intake["form_id"], answers, signature)
    done = await conn.fetchrow(
        """UPDATE appointment_intakes SET status = 'completed', completed_at = now()
           WHERE appointment_id = $1
           RETURNING organization_id, appointment_id, patient_id, status, form_id, token_id,
                     expires_at, sent_by, sent_at, completed_at""",
        intake["appointment_id"],
    )
    return dict(done.items()), form
