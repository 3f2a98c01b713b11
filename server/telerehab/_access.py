"""Who may see and prescribe for one patient, for the REST handlers. What each role sees of a
patient is `storage.care_team.clinical_view` (the WebSocket gateway asks it too, for
`patient:<id>` subscriptions); a specialist prescribes only for a patient they have an
appointment with or an admin's grant for (`ensure_prescriber`).

A patient outside the caller's view is answered like an unknown id (404), so ids cannot be probed.
Every read of clinical records is audited with the patient it concerns (`read_clinical`).
"""

from __future__ import annotations

import uuid

import asyncpg

from server.errors import ApiError, not_found
from storage import audit
from storage.audit import AuditActor
from storage.care_team import ClinicalView, clinical_view, has_care_basis, patient_exists
from storage.types import Principal, Role

CLINICAL_ROLES = (Role.ADMIN, Role.SPECIALIST, Role.PATIENT)
PRESCRIBER_ROLES = (Role.ADMIN, Role.SPECIALIST)


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
    if not await patient_exists(patient_id):
        raise not_found("patient")
    if who.role is Role.SPECIALIST and not (
        who.specialist_id is not None and await has_care_basis(conn, patient_id, who.specialist_id)
    ):
        raise ApiError(
            403,
            "care_team_required",
            "you need an appointment with this patient or an admin's care-team grant",
        )
