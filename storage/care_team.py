"""Who treats a patient: the relations that make a specialist one of a patient's clinicians, and
from them what each role may see of a patient (`clinical_view`, asked by REST and the WebSocket
gateway alike).

A specialist treats a patient while one of these holds:
- an appointment with them that is not cancelled;
- an active care-team grant an admin made (`care_team_grants`, revoked by setting revoked_at);
- a plan assignment or a custom plan of theirs for the patient. Both can only be created by a
  specialist who already has one of the two relations above (server/telerehab/_access.py), so
  they never widen access on their own.

The relation checks stay SQL: one EXISTS per relation, asked in one round trip on every clinical
request, and the same condition filters lists of patients (`treats_condition`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

import asyncpg

from storage import audit
from storage.audit import AuditActor
from storage.orm import first, rows
from storage.tables import CareTeamGrants, Patients, Specialists
from storage.types import Principal, Role


@dataclass(frozen=True, slots=True)
class Grant:
    id: uuid.UUID
    patient_id: uuid.UUID
    specialist_id: uuid.UUID
    granted_by: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: uuid.UUID | None


_G = CareTeamGrants
_GRANT = (
    _G.id, _G.patient_id, _G.specialist_id, _G.granted_by, _G.created_at, _G.revoked_at,
    _G.revoked_by,
)  # fmt: skip
_COLUMNS = ", ".join(c._meta.db_column_name for c in _GRANT)  # the same list, for raw SQL


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


class ClinicalView(Enum):
    FULL = "full"  # clinical records and every event of the patient's channel
    NON_CLINICAL = "non_clinical"  # scheduling and presence only
    NONE = "none"


async def clinical_view(
    conn: asyncpg.Connection, who: Principal, patient_id: uuid.UUID
) -> ClinicalView:
    """What `who` may see of the patient, in one place for REST and the WebSocket gateway;
    `conn` is a transaction in who's organization.

    - `patient`: only themself (the token's `pid`).
    - `specialist`: the patients they treat (`treats`).
    - `admin`: every patient of the organization.
    - `receptionist`: the patient's non-clinical side only (scheduling, presence), never records.
    - Every other role (owner, superadmin): nothing of a patient.
    """
    if who.org_id is None:
        return ClinicalView.NONE
    if who.role is Role.PATIENT:
        seen = who.patient_id == patient_id and await patient_exists(patient_id)
    elif who.role is Role.SPECIALIST:
        seen = who.specialist_id is not None and await treats(conn, patient_id, who.specialist_id)
    elif who.role is Role.ADMIN:
        seen = await patient_exists(patient_id)
    elif who.role is Role.RECEPTIONIST:
        if await patient_exists(patient_id):
            return ClinicalView.NON_CLINICAL
        return ClinicalView.NONE
    else:
        return ClinicalView.NONE
    return ClinicalView.FULL if seen else ClinicalView.NONE


async def patient_exists(patient_id: uuid.UUID) -> bool:
    """A live patient of the transaction's organization."""
    found: bool = await Patients.exists().where(
        (Patients.id == patient_id) & Patients.deleted_at.is_null()
    )
    return found


async def specialist_exists(specialist_id: uuid.UUID) -> bool:
    """A specialist of the organization (deleted ones included: a grant names one)."""
    found: bool = await Specialists.exists().where(Specialists.id == specialist_id)
    return found


async def specialist_user(specialist_id: uuid.UUID) -> uuid.UUID | None:
    """The user who signs in as the specialist (None: unknown, or without a login)."""
    row = await first(
        Specialists.select(Specialists.user_id).where(Specialists.id == specialist_id).first()
    )
    return None if row is None else cast(uuid.UUID | None, row["user_id"])


def _grant(row: Mapping[str, Any]) -> Grant:
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
    # ON CONFLICT: two admins granting at once both succeed, one row (the unique active grant).
    row = await conn.fetchrow(
        f"""INSERT INTO care_team_grants (patient_id, specialist_id, granted_by)
            VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}""",
        patient_id,
        specialist_id,
        actor.user_id,
    )
    if row is None:
        active = await first(
            _G.select(*_GRANT)
            .where(
                (_G.patient_id == patient_id)
                & (_G.specialist_id == specialist_id)
                & _G.revoked_at.is_null()
            )
            .first()
        )
        assert active is not None
        return _grant(active), False
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
    """Revoke the active grant; None when there is none. `conn`: for the audit row."""
    revoked_rows = await rows(
        _G.update({_G.revoked_at: datetime.now(UTC), _G.revoked_by: actor.user_id})
        .where(
            (_G.patient_id == patient_id)
            & (_G.specialist_id == specialist_id)
            & _G.revoked_at.is_null()
        )
        .returning(*_GRANT)
    )
    if not revoked_rows:
        return None
    revoked = _grant(revoked_rows[0])
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


async def list_grants(patient_id: uuid.UUID) -> list[Grant]:
    """Every grant of the patient, active and revoked, oldest first (a short list)."""
    found = await rows(
        _G.select(*_GRANT)
        .where(_G.patient_id == patient_id)
        .order_by(_G.created_at, _G.id)
        .limit(500)
    )
    return [_grant(r) for r in found]
