"""Who may see one patient's clinical records, in one place for REST and the WebSocket gateway
(server/identity/policy.py asks `clinical_view` for `patient:<id>` subscriptions).

- `patient`: only themself (the token's `pid`).
- `specialist`: the patients they treat (storage.care_team.treats): a non-cancelled appointment,
  an admin's care-team grant, or an active assignment / a custom plan of theirs (which only a
  specialist who already has an appointment or a grant can create: `ensure_prescriber`).
- `admin`: every patient of the organization.
- `receptionist`: the patient's non-clinical side only (scheduling, presence), never records.
- Every other role (owner, superadmin): nothing of a patient.

A patient outside the caller's view is answered like an unknown id (404), so ids cannot be probed.
Every read of clinical records is audited with the patient it concerns (`read_clinical`).
"""

from __future__ import annotations

import uuid
from enum import Enum

import asyncpg

from server.errors import ApiError, not_found
from storage import audit
from storage.audit import AuditActor
from storage.care_team import has_care_basis, treats
from storage.telerehab import patient_exists
from storage.types import Principal, Role

CLINICAL_ROLES = (Role.ADMIN, Role.SPECIALIST, Role.PATIENT)
PRESCRIBER_ROLES = (Role.ADMIN, Role.SPECIALIST)


class ClinicalView(Enum):
    FULL = "full"  # clinical records and every event of the patient's channel
    NON_CLINICAL = "non_clinical"  # scheduling and presence only
    NONE = "none"


async def clinical_view(
    conn: asyncpg.Connection, who: Principal, patient_id: uuid.UUID
) -> ClinicalView:
    """What `who` may see of the patient; `conn` is a transaction in who's organization."""
    if who.org_id is None:
        return ClinicalView.NONE
    if who.role is Role.PATIENT:
        seen = who.patient_id == patient_id and await patient_exists(conn, patient_id)
    elif who.role is Role.SPECIALIST:
        seen = who.specialist_id is not None and await treats(conn, patient_id, who.specialist_id)
    elif who.role is Role.ADMIN:
        seen = await patient_exists(conn, patient_id)
    elif who.role is Role.RECEPTIONIST:
        if await patient_exists(conn, patient_id):
            return ClinicalView.NON_CLINICAL
        return ClinicalView.NONE
    else:
        return ClinicalView.NONE
    return ClinicalView.FULL if seen else ClinicalView.NONE


async def ensure_patient_visible(
    conn: asyncpg.Connection, who: Principal, patient_id: uuid.UUID
) -> None:
    if who.role not in CLINICAL_ROLES:
        raise ApiError(403, "forbidden", "your role may not read clinical records")
    if await clinical_view(conn, who, patient_id) is not ClinicalView.FULL:
        raise not_found("patient")


async def read_clinical(
    conn: asyncpg.Connection,
    who: Principal,
    actor: AuditActor,
    patient_id: uuid.UUID,
    record: str,
    record_id: object = None,
) -> None:
    """`ensure_patient_visible`, then the audit row of this read (same transaction): who read
    which of the patient's records. `record`: the kind, e.g. `plan_assignments`."""
    await ensure_patient_visible(conn, who, patient_id)
    await audit.record_read(
        conn,
        actor=actor,
        organization_id=who.org_id,
        patient_id=patient_id,
        entity=record,
        entity_id=patient_id if record_id is None else record_id,
    )


async def ensure_prescriber(
    conn: asyncpg.Connection, who: Principal, patient_id: uuid.UUID
) -> None:
    """Admins may prescribe (assign a plan, write a custom plan) for any patient of the
    organization. A specialist only for a patient they have an appointment with or an admin
    granted them (POST /v1/patients/{id}/care-team): prescribing must not be the way a
    specialist makes any patient of the clinic theirs."""
    if who.role not in PRESCRIBER_ROLES:
        raise ApiError(403, "forbidden", "your role may not prescribe plans")
    if not await patient_exists(conn, patient_id):
        raise not_found("patient")
    if who.role is Role.SPECIALIST and not (
        who.specialist_id is not None and await has_care_basis(conn, patient_id, who.specialist_id)
    ):
        raise ApiError(
            403,
            "care_team_required",
            "you need an appointment with this patient or an admin's care-team grant",
        )
