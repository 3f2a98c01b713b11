"""Reads the automation actions need about a patient (in the caller's tenant transaction)."""

from __future__ import annotations

import uuid

from storage.orm import first
from storage.tables import Patients, PlanAssignments


async def patient_is_live(patient_id: uuid.UUID) -> bool:
    """Neither deleted nor erased: a rule acts on no other patient."""
    found: bool = await Patients.exists().where(
        (Patients.id == patient_id) & Patients.deleted_at.is_null() & Patients.erased_at.is_null()
    )
    return found


async def active_assignment(patient_id: uuid.UUID, plan_id: uuid.UUID) -> uuid.UUID | None:
    """The patient's active assignment of the plan, if any."""
    found = await first(
        PlanAssignments.select(PlanAssignments.id)
        .where(
            (PlanAssignments.patient_id == patient_id)
            & (PlanAssignments.plan_id == plan_id)
            & (PlanAssignments.status == "active")
        )
        .first()
    )
    return None if found is None else uuid.UUID(str(found["id"]))
