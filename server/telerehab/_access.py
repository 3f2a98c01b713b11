"""Who may see one patient's telerehab records (assignments, completions, adherence).

- `patient`: only themself (the token's `pid`).
- `specialist`: their patients: a non-cancelled appointment with them, an assignment they own,
  or a custom plan they prescribed (storage.telerehab.is_specialists_patient).
- `admin`: every patient of the organization.
- Every other role (receptionist, owner, superadmin): none; these are clinical records.

A patient outside the caller's view is answered like an unknown id (404), so ids cannot be probed.
"""

from __future__ import annotations

import uuid

import asyncpg

from server.errors import ApiError, not_found
from storage.telerehab import is_specialists_patient, patient_exists
from storage.types import Principal, Role

CLINICAL_ROLES = (Role.ADMIN, Role.SPECIALIST, Role.PATIENT)
PRESCRIBER_ROLES = (Role.ADMIN, Role.SPECIALIST)


async def ensure_patient_visible(
    conn: asyncpg.Connection, who: Principal, patient_id: uuid.UUID
) -> None:
    if who.role is Role.PATIENT:
        visible = who.patient_id == patient_id and await patient_exists(conn, patient_id)
    elif who.role is Role.SPECIALIST:
        visible = who.specialist_id is not None and await is_specialists_patient(
            conn, patient_id, who.specialist_id
        )
    elif who.role is Role.ADMIN:
        visible = await patient_exists(conn, patient_id)
    else:
        raise ApiError(403, "forbidden", "your role may not read clinical records")
    if not visible:
        raise not_found("patient")


async def ensure_prescriber(
    conn: asyncpg.Connection, who: Principal, patient_id: uuid.UUID
) -> None:
    """Admins and specialists may assign a plan to any patient of the organization (assigning
    makes the patient the specialist's)."""
    if who.role not in PRESCRIBER_ROLES:
        raise ApiError(403, "forbidden", "your role may not prescribe plans")
    if not await patient_exists(conn, patient_id):
        raise not_found("patient")
