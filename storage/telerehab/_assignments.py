"""Plan assignments: a patient is given one published plan version, with a frequency and dates.

The assignment holds the version's id for good (a database trigger refuses any change of it), and
the version is an immutable snapshot, so `load_assigned_plan` returns exactly what the patient was
given, whatever happened to the plan or the library since. Reassigning creates a new assignment
(`replaces`) and ends the old one.

"Their patients" (which patients a specialist may see): storage/care_team.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from pipelines.pose import Kinematics
from storage.audit import AuditActor, record
from storage.care_team import patient_exists
from storage.orm import first, rows
from storage.tables import PlanAssignments, Specialists
from storage.telerehab import _keyset as keyset
from storage.telerehab._adherence import Frequency
from storage.telerehab._errors import Invalid, NotFound
from storage.telerehab._plans import Scope, get_plan, get_version, get_version_by_id
from storage.telerehab._states import AssignmentAction, AssignmentStatus, next_assignment_status


@dataclass(frozen=True, slots=True)
class Assignment:
    id: uuid.UUID
    organization_id: uuid.UUID
    patient_id: uuid.UUID
    plan_id: uuid.UUID
    plan_version_id: uuid.UUID
    plan_version: int
    specialist_id: uuid.UUID | None
    frequency: Frequency
    starts_on: date
    ends_on: date | None
    status: AssignmentStatus
    replaces_id: uuid.UUID | None
    created_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class PrescribedExercise:
    """One exercise of a session as prescribed: the dosage and the frozen definition."""

    position: int
    exercise_id: uuid.UUID
    name: str
    sets: int
    reps: int
    rest_s: int
    hold_s: int
    notes: str
    kinematics: Kinematics | None
    definition: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AssignedPlan:
    """An assignment with the exact snapshot it was given (what a telerehab session runs)."""

    assignment: Assignment
    snapshot: Mapping[str, Any]
    snapshot_digest: str

    @property
    def session_count(self) -> int:
        return len(self.snapshot["sessions"])

    def exercises(self, session_index: int) -> list[PrescribedExercise]:
        """The prescribed exercises of one session, in order; IndexError for a bad index."""
        if not 0 <= session_index < self.session_count:
            raise IndexError(session_index)
        return [
            PrescribedExercise(
                position=item["position"],
                exercise_id=uuid.UUID(item["exercise_id"]),
                name=item["exercise"]["name"],
                sets=item["sets"],
                reps=item["reps"],
                rest_s=item["rest_s"],
                hold_s=item.get("hold_s", 0),
                notes=item.get("notes", ""),
                kinematics=(
                    None
                    if item["exercise"]["kinematics"] is None
                    else Kinematics.from_dict(item["exercise"]["kinematics"])
                ),
                definition=item["exercise"],
            )
            for item in self.snapshot["sessions"][session_index]["exercises"]
        ]


_COLUMNS = (
    PlanAssignments.id, PlanAssignments.organization_id, PlanAssignments.patient_id,
    PlanAssignments.plan_id, PlanAssignments.plan_version_id, PlanAssignments.plan_version,
    PlanAssignments.specialist_id, PlanAssignments.frequency, PlanAssignments.starts_on,
    PlanAssignments.ends_on, PlanAssignments.status, PlanAssignments.replaces_id,
    PlanAssignments.created_at, PlanAssignments.ended_at,
)  # fmt: skip


def _assignment(row: Mapping[str, Any]) -> Assignment:
    return Assignment(
        **{
            **dict(row),
            "frequency": Frequency.from_json(row["frequency"]),
            "status": AssignmentStatus(row["status"]),
        }
    )


def _by_id(assignment_id: uuid.UUID) -> Any:
    return PlanAssignments.select(*_COLUMNS).where(PlanAssignments.id == assignment_id)


async def get_assignment(assignment_id: uuid.UUID) -> Assignment:
    row = await first(_by_id(assignment_id).first())
    if row is None:
        raise NotFound("plan assignment")
    return _assignment(row)


async def list_assignments(
    patient_id: uuid.UUID,
    *,
    limit: int = 50,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Assignment]:
    """The patient's assignments, oldest first; page with the last one's (created_at, id)."""
    query = PlanAssignments.select(*_COLUMNS).where(PlanAssignments.patient_id == patient_id)
    if after is not None:
        query = query.where(keyset.after(PlanAssignments.created_at, PlanAssignments.id, after))
    found = await rows(query.order_by(PlanAssignments.created_at, PlanAssignments.id).limit(limit))
    return [_assignment(r) for r in found]


async def assign_plan(
    conn: asyncpg.Connection,
    *,
    org_id: uuid.UUID,
    patient_id: uuid.UUID,
    data: Mapping[str, Any],
    actor: AuditActor,
    specialist_id: uuid.UUID | None = None,
) -> Assignment:
    """Give the patient a published version of a plan. `data`: plan_id, plan_version? (default:
    the latest published), frequency, starts_on (date), ends_on?, specialist_id?, replaces?.
    `conn` is the transaction's connection, for the audit rows."""
    if not await patient_exists(patient_id):
        raise NotFound("patient")
    fields: dict[str, str] = {}
    try:
        plan = await get_plan(uuid.UUID(str(data["plan_id"])))
    except NotFound:
        raise Invalid({"plan_id": "unknown treatment plan"}) from None
    if plan.scope is Scope.CUSTOM and plan.patient_id != patient_id:
        fields["plan_id"] = "is another patient's custom plan"
    requested = data.get("plan_version")
    try:
        version = await get_version(plan.id, requested)
    except NotFound:
        what = "the plan has no published version" if requested is None else "unknown version"
        raise Invalid({"plan_version": what, **fields}) from None
    if not version.status.frozen:
        fields["plan_version"] = "is a draft; publish it before assigning it"
    frequency = Frequency.from_json(data.get("frequency"))
    starts_on: date = data["starts_on"]
    ends_on: date | None = data.get("ends_on")
    if ends_on is not None and ends_on < starts_on:
        fields["ends_on"] = "must be on or after starts_on"
    owner = uuid.UUID(str(data["specialist_id"])) if data.get("specialist_id") else specialist_id
    if owner is not None and not await Specialists.exists().where(
        (Specialists.id == owner) & Specialists.deleted_at.is_null()
    ):
        fields["specialist_id"] = "unknown specialist"
    replaces = data.get("replaces")
    previous: Assignment | None = None
    if replaces is not None:
        try:
            previous = await get_assignment(uuid.UUID(str(replaces)))
        except NotFound:
            fields["replaces"] = "unknown plan assignment"
        else:
            if previous.patient_id != patient_id:
                fields["replaces"] = "is another patient's assignment"
    if fields:
        raise Invalid(fields)
    if previous is not None and previous.status is AssignmentStatus.ACTIVE:
        await end_assignment(conn, previous.id, org_id=org_id, actor=actor)
    new = PlanAssignments(
        organization_id=org_id,
        patient_id=patient_id,
        plan_id=plan.id,
        plan_version_id=version.id,
        plan_version=version.version,
        specialist_id=owner,
        frequency=frequency.to_json(),
        starts_on=starts_on,
        ends_on=ends_on,
        status=AssignmentStatus.ACTIVE.value,
        replaces_id=previous.id if previous else None,
        created_by=actor.user_id,
    )
    created = _assignment((await rows(PlanAssignments.insert(new).returning(*_COLUMNS)))[0])
    await record(
        conn, actor=actor, organization_id=org_id, action="plan_assignment.created",
        entity="plan_assignment", entity_id=created.id,
        after={"plan_id": plan.id, "plan_version": version.version, "patient_id": patient_id},
    )  # fmt: skip
    return created


async def end_assignment(
    conn: asyncpg.Connection, assignment_id: uuid.UUID, *, org_id: uuid.UUID, actor: AuditActor
) -> Assignment:
    """End an active assignment (InvalidTransition otherwise). `conn`: for the audit row."""
    row = await first(_by_id(assignment_id).lock_rows().first())
    if row is None:
        raise NotFound("plan assignment")
    current = _assignment(row)
    status = next_assignment_status(current.status, AssignmentAction.END)
    now = datetime.now(UTC)
    ended = await rows(
        PlanAssignments.update(
            {PlanAssignments.status: status.value, PlanAssignments.ended_at: now,
             PlanAssignments.updated_at: now}
        )
        .where(PlanAssignments.id == assignment_id)
        .returning(*_COLUMNS)
    )  # fmt: skip
    await record(
        conn, actor=actor, organization_id=org_id, action="plan_assignment.ended",
        entity="plan_assignment", entity_id=assignment_id,
        before={"status": current.status.value}, after={"status": status.value},
    )  # fmt: skip
    return _assignment(ended[0])


async def load_assigned_plan(assignment_id: uuid.UUID) -> AssignedPlan:
    """The assignment and the exact published snapshot it was given."""
    assignment = await get_assignment(assignment_id)
    version = await get_version_by_id(assignment.plan_version_id)
    # The trigger makes a draft impossible here; the check keeps a reader from ever running one.
    if version.snapshot is None or version.snapshot_digest is None:
        raise NotFound("published plan version")
    return AssignedPlan(assignment, version.snapshot, version.snapshot_digest)
