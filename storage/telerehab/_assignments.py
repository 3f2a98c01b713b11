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
from datetime import date, datetime
from typing import Any

import asyncpg

from pipelines.pose import Kinematics
from storage import care_team
from storage.audit import AuditActor, record
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


_COLUMNS = """id, organization_id, patient_id, plan_id, plan_version_id, plan_version,
  specialist_id, frequency, starts_on, ends_on, status, replaces_id, created_at, ended_at"""


def _assignment(row: Mapping[str, Any]) -> Assignment:
    return Assignment(
        **{
            **dict(row),
            "frequency": Frequency.from_json(row["frequency"]),
            "status": AssignmentStatus(row["status"]),
        }
    )


async def is_specialists_patient(
    conn: asyncpg.Connection, patient_id: uuid.UUID, specialist_id: uuid.UUID
) -> bool:
    """Whether the patient is one of the specialist's: storage.care_team.treats decides."""
    return await care_team.treats(conn, patient_id, specialist_id)


async def patient_exists(conn: asyncpg.Connection, patient_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM patients WHERE id = $1 AND deleted_at IS NULL", patient_id
        )
    )


async def get_assignment(conn: asyncpg.Connection, assignment_id: uuid.UUID) -> Assignment:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM plan_assignments WHERE id = $1", assignment_id
    )
    if row is None:
        raise NotFound("plan assignment")
    return _assignment(row)


async def list_assignments(
    conn: asyncpg.Connection,
    patient_id: uuid.UUID,
    *,
    limit: int = 50,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Assignment]:
    """The patient's assignments, oldest first; page with the last one's (created_at, id)."""
    if after is None:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM plan_assignments WHERE patient_id = $1 "
            "ORDER BY created_at, id LIMIT $2",
            patient_id,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM plan_assignments WHERE patient_id = $1 "
            "AND (created_at, id) > ($3, $4) ORDER BY created_at, id LIMIT $2",
            patient_id,
            limit,
            after[0],
            after[1],
        )
    return [_assignment(r) for r in rows]


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
    the latest published), frequency, starts_on (date), ends_on?, specialist_id?, replaces?."""
    if not await patient_exists(conn, patient_id):
        raise NotFound("patient")
    fields: dict[str, str] = {}
    try:
        plan = await get_plan(conn, uuid.UUID(str(data["plan_id"])))
    except NotFound:
        raise Invalid({"plan_id": "unknown treatment plan"}) from None
    if plan.scope is Scope.CUSTOM and plan.patient_id != patient_id:
        fields["plan_id"] = "is another patient's custom plan"
    requested = data.get("plan_version")
    try:
        version = await get_version(conn, plan.id, requested)
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
    if owner is not None and not await conn.fetchval(
        "SELECT 1 FROM specialists WHERE id = $1 AND deleted_at IS NULL", owner
    ):
        fields["specialist_id"] = "unknown specialist"
    replaces = data.get("replaces")
    previous: Assignment | None = None
    if replaces is not None:
        try:
            previous = await get_assignment(conn, uuid.UUID(str(replaces)))
        except NotFound:
            fields["replaces"] = "unknown plan assignment"
        else:
            if previous.patient_id != patient_id:
                fields["replaces"] = "is another patient's assignment"
    if fields:
        raise Invalid(fields)
    if previous is not None and previous.status is AssignmentStatus.ACTIVE:
        await end_assignment(conn, previous.id, org_id=org_id, actor=actor)
    row = await conn.fetchrow(
        f"""INSERT INTO plan_assignments (organization_id, patient_id, plan_id, plan_version_id,
              plan_version, specialist_id, frequency, starts_on, ends_on, replaces_id, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {_COLUMNS}""",
        org_id,
        patient_id,
        plan.id,
        version.id,
        version.version,
        owner,
        frequency.to_json(),
        starts_on,
        ends_on,
        previous.id if previous else None,
        actor.user_id,
    )
    assert row is not None
    created = _assignment(row)
    await record(
        conn, actor=actor, organization_id=org_id, action="plan_assignment.created",
        entity="plan_assignment", entity_id=created.id,
        after={"plan_id": plan.id, "plan_version": version.version, "patient_id": patient_id},
    )  # fmt: skip
    return created


async def end_assignment(
    conn: asyncpg.Connection, assignment_id: uuid.UUID, *, org_id: uuid.UUID, actor: AuditActor
) -> Assignment:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM plan_assignments WHERE id = $1 FOR UPDATE", assignment_id
    )
    if row is None:
        raise NotFound("plan assignment")
    current = _assignment(row)
    status = next_assignment_status(current.status, AssignmentAction.END)
    row = await conn.fetchrow(
        f"""UPDATE plan_assignments SET status = $2, ended_at = now(), updated_at = now()
            WHERE id = $1 RETURNING {_COLUMNS}""",
        assignment_id,
        status.value,
    )
    assert row is not None
    await record(
        conn, actor=actor, organization_id=org_id, action="plan_assignment.ended",
        entity="plan_assignment", entity_id=assignment_id,
        before={"status": current.status.value}, after={"status": status.value},
    )  # fmt: skip
    return _assignment(row)


async def load_assigned_plan(conn: asyncpg.Connection, assignment_id: uuid.UUID) -> AssignedPlan:
    """The assignment and the exact published snapshot it was given (tenant connection)."""
    assignment = await get_assignment(conn, assignment_id)
    version = await get_version_by_id(conn, assignment.plan_version_id)
    # The trigger makes a draft impossible here; the check keeps a reader from ever running one.
    if version.snapshot is None or version.snapshot_digest is None:
        raise NotFound("published plan version")
    return AssignedPlan(assignment, version.snapshot, version.snapshot_digest)
