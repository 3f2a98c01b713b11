"""Who treats a patient: the relations that make a specialist one of a patient's clinicians.

A specialist treats a patient while one of these holds:
- an appointment with them that is not cancelled;
- an active care-team grant an admin made (`care_team_grants`, revoked by setting revoked_at);
- a plan assignment or a custom plan of theirs for the patient. Both can only be created by a
  specialist who already has one of the two relations above (server/telerehab/_access.py), so
  they never widen access on their own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage import audit
from storage.audit import AuditActor


@dataclass(frozen=True, slots=True)
class Grant:
    id: uuid.UUID
    patient_id: uuid.UUID
    specialist_id: uuid.UUID
    granted_by: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: uuid.UUID | None


_COLUMNS = "id, patient_id, specialist_id, granted_by, created_at, revoked_at, revoked_by"


def _care_basis(patient: str, specialist: str) -> str:
    """SQL: an appointment or an admin's grant, what lets a specialist start treating
    (prescribe); `patient` and `specialist` are SQL expressions (placeholders or columns)."""
    return f"""(EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = {patient}
                    AND a.specialist_id = {specialist} AND a.status <> 'cancelled')
            OR EXISTS (SELECT 1 FROM care_team_grants g WHERE g.patient_id = {patient}
                    AND g.specialist_id = {specialist} AND g.revoked_at IS NULL))"""


def treats_condition(patient: str, specialist: str) -> str:
    """SQL: the specialist is one of the patient's clinicians (see the module docstring): the
    one rule for a single check (`treats`) and for filtering lists of patients."""
    return f"""({_care_basis(patient, specialist)}
            OR EXISTS (SELECT 1 FROM plan_assignments pa WHERE pa.patient_id = {patient}
                    AND pa.specialist_id = {specialist} AND pa.status = 'active')
            OR EXISTS (SELECT 1 FROM treatment_plans tp WHERE tp.patient_id = {patient}
                    AND tp.specialist_id = {specialist} AND tp.deleted_at IS NULL))"""


async def has_care_basis(
    conn: asyncpg.Connection, patient_id: uuid.UUID, specialist_id: uuid.UUID
) -> bool:
    """An appointment with the specialist, or an admin's active grant."""
    found = await conn.fetchval(f"SELECT {_care_basis('$1', '$2')}", patient_id, specialist_id)
    return bool(found)


async def treats(conn: asyncpg.Connection, patient_id: uuid.UUID, specialist_id: uuid.UUID) -> bool:
    """Whether the specialist is one of the patient's clinicians (see the module docstring)."""
    found = await conn.fetchval(f"SELECT {treats_condition('$1', '$2')}", patient_id, specialist_id)
    return bool(found)


def _grant(row: asyncpg.Record) -> Grant:
    return Grant(**{k: row[k] for k in Grant.__slots__})


async def grant(
    conn: asyncpg.Connection,
    *,
    org_id: uuid.UUID,
    patient_id: uuid.UUID,
    specialist_id: uuid.UUID,
    actor: AuditActor,
) -> tuple[Grant, bool]:
    """Grant access (idempotent): the active grant and whether it was created now."""
    row = await conn.fetchrow(
        f"""INSERT INTO care_team_grants (patient_id, specialist_id, granted_by)
            VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}""",
        patient_id,
        specialist_id,
        actor.user_id,
    )
    if row is None:
        row = await conn.fetchrow(
            f"""SELECT {_COLUMNS} FROM care_team_grants WHERE patient_id = $1
                  AND specialist_id = $2 AND revoked_at IS NULL""",
            patient_id,
            specialist_id,
        )
        assert row is not None
        return _grant(row), False
    created = _grant(row)
    await audit.record(
        conn,
        actor=actor,
        organization_id=org_id,
        action="grant",
        entity="care_team_grant",
        entity_id=created.id,
        after={"patient_id": patient_id, "specialist_id": specialist_id},
    )
    return created, True


async def revoke(
    conn: asyncpg.Connection,
    *,
    org_id: uuid.UUID,
    patient_id: uuid.UUID,
    specialist_id: uuid.UUID,
    actor: AuditActor,
) -> Grant | None:
    """Revoke the active grant; None when there is none."""
    row = await conn.fetchrow(
        f"""UPDATE care_team_grants SET revoked_at = now(), revoked_by = $3
             WHERE patient_id = $1 AND specialist_id = $2 AND revoked_at IS NULL
            RETURNING {_COLUMNS}""",
        patient_id,
        specialist_id,
        actor.user_id,
    )
    if row is None:
        return None
    revoked = _grant(row)
    await audit.record(
        conn,
        actor=actor,
        organization_id=org_id,
        action="revoke",
        entity="care_team_grant",
        entity_id=revoked.id,
        before={"revoked_at": None},
        after={"revoked_at": revoked.revoked_at},
    )
    return revoked


async def list_grants(conn: asyncpg.Connection, patient_id: uuid.UUID) -> list[Grant]:
    """Every grant of the patient, active and revoked, oldest first (a short list)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM care_team_grants WHERE patient_id = $1
            ORDER BY created_at, id LIMIT 500""",
        patient_id,
    )
    return [_grant(r) for r in rows]
