"""The consent ledger: one append-only row per decision a patient made (or staff recorded on
their behalf), per purpose. The newest row of a purpose is the patient's current answer; a
purpose never answered counts as refused (consent is opt-in).

The database keeps `patients.consent_*` equal to the newest decision (a trigger of the ledger),
so hot paths may read that boolean instead; the application can neither change nor remove a row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from storage.audit import AuditActor


class Purpose(StrEnum):
    TELEREHAB_CAMERA = "telerehab_camera"  # camera-guided telerehab sessions
    ANALYTICS = "analytics"  # non-clinical telemetry (client errors, video watching, samples)
    TREATMENT = "treatment"
    MARKETING = "marketing"


class ConsentChannel(StrEnum):
    """How the decision reached us, besides the IP of the request that recorded it."""

    APP = "app"
    WEB = "web"
    FRONT_DESK = "front_desk"
    PAPER = "paper"
    PHONE = "phone"
    EMAIL = "email"
    MIGRATION = "migration"


@dataclass(frozen=True, slots=True)
class Consent:
    id: uuid.UUID
    patient_id: uuid.UUID
    purpose: Purpose
    policy_version: str
    granted: bool
    recorded_by: uuid.UUID | None
    recorded_role: str | None
    channel: ConsentChannel
    ip: str | None
    recorded_at: datetime


_COLUMNS = """id, patient_id, purpose, policy_version, granted, recorded_by, recorded_role,
              channel, host(ip) AS ip, recorded_at"""


def _consent(row: asyncpg.Record) -> Consent:
    return Consent(
        id=row["id"],
        patient_id=row["patient_id"],
        purpose=Purpose(row["purpose"]),
        policy_version=row["policy_version"],
        granted=row["granted"],
        recorded_by=row["recorded_by"],
        recorded_role=row["recorded_role"],
        channel=ConsentChannel(row["channel"]),
        ip=row["ip"],
        recorded_at=row["recorded_at"],
    )


async def record_consent(
    conn: asyncpg.Connection,
    *,
    patient_id: uuid.UUID,
    purpose: Purpose,
    policy_version: str,
    granted: bool,
    channel: ConsentChannel,
    actor: AuditActor,
) -> Consent:
    """Append one decision (in the caller's tenant transaction). The patient row is locked first
    so that two decisions of one patient are ordered the same way in the ledger and the mirror."""
    await conn.execute("SELECT 1 FROM patients WHERE id = $1 FOR UPDATE", patient_id)
    row = await conn.fetchrow(
        f"""INSERT INTO patient_consents (patient_id, purpose, policy_version, granted,
                                          recorded_by, recorded_role, channel, ip, request_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8::inet, $9)
            RETURNING {_COLUMNS}""",
        patient_id,
        purpose.value,
        policy_version,
        granted,
        actor.user_id,
        actor.role,
        channel.value,
        actor.ip,
        actor.request_id,
    )
    assert row is not None
    return _consent(row)


async def list_consents(
    conn: asyncpg.Connection,
    patient_id: uuid.UUID,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Consent]:
    """The patient's decisions, newest first (the full history, withdrawals included)."""
    args: list[object] = [patient_id]
    where = "patient_id = $1"
    if after is not None:
        args.extend(after)
        where += " AND (recorded_at, id) < ($2, $3)"
    args.append(limit)
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM patient_consents WHERE {where}
            ORDER BY recorded_at DESC, id DESC LIMIT ${len(args)}""",
        *args,
    )
    return [_consent(r) for r in rows]


async def current_consents(conn: asyncpg.Connection, patient_id: uuid.UUID) -> dict[Purpose, bool]:
    """The newest decision per purpose; a purpose never answered is absent (refused)."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (purpose) purpose, granted FROM patient_consents
            WHERE patient_id = $1 ORDER BY purpose, recorded_at DESC, id DESC""",
        patient_id,
    )
    return {Purpose(r["purpose"]): r["granted"] for r in rows}


async def latest_policy_version(
    conn: asyncpg.Connection, patient_id: uuid.UUID, purpose: Purpose
) -> str | None:
    """The notice the patient's newest decision of `purpose` was made under."""
    found: str | None = await conn.fetchval(
        """SELECT policy_version FROM patient_consents WHERE patient_id = $1 AND purpose = $2
            ORDER BY recorded_at DESC, id DESC LIMIT 1""",
        patient_id,
        purpose.value,
    )
    return found


async def has_consent(conn: asyncpg.Connection, patient_id: uuid.UUID, purpose: Purpose) -> bool:
    granted = await conn.fetchval(
        """SELECT granted FROM patient_consents WHERE patient_id = $1 AND purpose = $2
            ORDER BY recorded_at DESC, id DESC LIMIT 1""",
        patient_id,
        purpose.value,
    )
    return bool(granted)
