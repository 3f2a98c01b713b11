"""What each document prints, read from the records it is about (in the caller's tenant
transaction). Each reader answers a `Subject`: the document's content and the patient it is
about, for the caller's authorization; NotFound when the record does not exist here."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from pipelines.documents import (
    Answer,
    AppointmentSummary,
    Body,
    ExerciseDone,
    Handout,
    HandoutExercise,
    HandoutSession,
    Note,
    RomPoint,
    RomSeries,
    SessionReport,
    Signature,
    SignedForm,
)
from storage.crypto import KeyRing
from storage.errors import Conflict, NotFound
from storage.forms import form_document, instance_patient
from storage.notes import shared_notes_for_appointment
from storage.orm import first
from storage.tables import Patients, PlanAssignments, TreatmentPlans, TreatmentPlanVersions
from storage.telerehab import get_completion

# Sessions of range-of-motion history a report charts (the chart keeps as many).
ROM_HISTORY = 12


@dataclass(frozen=True, slots=True)
class Subject:
    """A document's content, the record it is about, and the patient it names (None: a handout
    of a plan that is not one patient's)."""

    body: Body
    subject_id: uuid.UUID
    patient_id: uuid.UUID | None


async def _patient_name(patient_id: uuid.UUID) -> str:
    row = await first(
        Patients.select(Patients.first_name, Patients.last_name)
        .where(Patients.id == patient_id)
        .first()
    )
    return "" if row is None else f"{row['first_name']} {row['last_name']}"


async def _snapshot(version_id: uuid.UUID) -> Mapping[str, Any]:
    row = await first(
        TreatmentPlanVersions.select(TreatmentPlanVersions.snapshot)
        .where(TreatmentPlanVersions.id == version_id)
        .first()
    )
    if row is None or row["snapshot"] is None:
        raise NotFound("plan version")
    snapshot: Mapping[str, Any] = row["snapshot"]
    return snapshot


async def _rom_history(
    conn: asyncpg.Connection,
    patient_id: uuid.UUID,
    exercises: Sequence[tuple[uuid.UUID, str]],
    until: tuple[Any, uuid.UUID],
) -> tuple[RomSeries, ...]:
    """Per exercise of the session, its mean angle in the patient's sessions up to and including
    this one (never later ones: a report printed again next month is the same report)."""
    ids = list(dict.fromkeys(ex_id for ex_id, _ in exercises))
    # A join the query builder has no words for; newest first, a bounded number per exercise.
    found = await conn.fetch(
        """SELECT exercise_id, completed_at, rom_mean_deg FROM (
             SELECT l.exercise_id, c.completed_at, c.id, l.rom_mean_deg,
                    row_number() OVER (PARTITION BY l.exercise_id
                                       ORDER BY c.completed_at DESC, c.id DESC) AS n
             FROM exercise_logs l
             JOIN session_completions c
               ON c.organization_id = l.organization_id AND c.id = l.completion_id
             WHERE l.patient_id = $1 AND l.exercise_id = ANY($2::uuid[])
               AND l.rom_mean_deg IS NOT NULL AND (c.completed_at, c.id) <= ($3, $4)) AS h
           WHERE n <= $5
           ORDER BY completed_at, id""",
        patient_id,
        ids,
        until[0],
        until[1],
        ROM_HISTORY,
    )
    names = dict(exercises)
    points: dict[uuid.UUID, list[RomPoint]] = {ex_id: [] for ex_id in ids}
    for r in found:
        points[r["exercise_id"]].append(RomPoint(r["completed_at"], float(r["rom_mean_deg"])))
    return tuple(RomSeries(names[ex_id], tuple(points[ex_id])) for ex_id in ids if points[ex_id])


async def session_report(
    conn: asyncpg.Connection, keys: KeyRing, completion_id: uuid.UUID
) -> Subject:
    done = await get_completion(completion_id, keys)
    snapshot = await _snapshot(done.plan_version_id)
    sessions = snapshot.get("sessions", [])
    session = sessions[done.session_index] if done.session_index < len(sessions) else {}
    by_position = {item["position"]: item for item in session.get("exercises", [])}

    def name(position: int) -> str:
        item = by_position.get(position)
        return str(item["exercise"]["name"]) if item else f"Exercise {position + 1}"

    exercises = tuple(
        ExerciseDone(
            name=name(e.position), sets_target=e.sets_target, reps_target=e.reps_target,
            sets_done=e.sets_done, reps_done=e.reps_done, duration_s=e.duration_s,
            rom_min_deg=e.rom_min_deg, rom_mean_deg=e.rom_mean_deg, rom_max_deg=e.rom_max_deg,
            pain=e.pain,
        )
        for e in done.exercises
    )  # fmt: skip
    rom = await _rom_history(
        conn,
        done.patient_id,
        [(e.exercise_id, name(e.position)) for e in done.exercises],
        (done.completed_at, done.id),
    )
    q = done.questionnaire
    body = SessionReport(
        patient_name=await _patient_name(done.patient_id),
        plan_name=str(snapshot.get("plan", {}).get("name", "")),
        session_name=str(session.get("name") or f"Session {done.session_index + 1}"),
        status=done.status,
        source=done.source,
        started_at=done.started_at,
        completed_at=done.completed_at,
        duration_s=done.duration_s,
        exercises=exercises,
        pain=None if q is None else q.pain,
        difficulty=None if q is None else q.difficulty,
        note=None if q is None else q.note,
        rom=rom,
    )
    return Subject(body, done.id, done.patient_id)


async def appointment_summary(
    conn: asyncpg.Connection, keys: KeyRing, appointment_id: uuid.UUID, *, with_notes: bool
) -> Subject:
    """`with_notes`: the care team's copy, with the notes shared with the care team; without,
    the patient's copy."""
    row = await conn.fetchrow(
        """SELECT a.patient_id, a.starts_at, a.ends_at, a.status, a.updated_at,
                  s.name AS specialist_name, v.name AS service_name, v.modality,
                  p.first_name, p.last_name
           FROM appointments a
           JOIN specialists s ON s.organization_id = a.organization_id AND s.id = a.specialist_id
           JOIN services v ON v.organization_id = a.organization_id AND v.id = a.service_id
           JOIN patients p ON p.organization_id = a.organization_id AND p.id = a.patient_id
           WHERE a.id = $1""",
        appointment_id,
    )
    if row is None:
        raise NotFound("appointment")
    notes: tuple[Note, ...] = ()
    if with_notes:
        notes = tuple(
            Note(n["author_name"] or "", n["body"], n["created_at"], n["updated_at"])
            for n in await shared_notes_for_appointment(keys, appointment_id)
            if n["body"] is not None  # erased with its patient
        )
    body = AppointmentSummary(
        patient_name=f"{row['first_name']} {row['last_name']}",
        specialist_name=row["specialist_name"],
        service_name=row["service_name"],
        modality=row["modality"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        status=row["status"],
        updated_at=row["updated_at"],
        notes=notes,
        with_notes=with_notes,
    )
    return Subject(body, appointment_id, row["patient_id"])


def _instructions(exercise: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(step) for step in exercise.get("instructions") or () if str(step).strip())


async def handout(plan_id: uuid.UUID, version: int) -> Subject:
    """The handout of a published version (a draft has no frozen content to hand out)."""
    plan = await first(
        TreatmentPlans.select(TreatmentPlans.patient_id)
        .where((TreatmentPlans.id == plan_id) & TreatmentPlans.deleted_at.is_null())
        .first()
    )
    found = await first(
        TreatmentPlanVersions.select(
            TreatmentPlanVersions.id,
            TreatmentPlanVersions.snapshot,
            TreatmentPlanVersions.published_at,
        )
        .where(
            (TreatmentPlanVersions.plan_id == plan_id) & (TreatmentPlanVersions.version == version)
        )
        .first()
    )
    if plan is None or found is None:
        raise NotFound("plan version")
    if found["snapshot"] is None or found["published_at"] is None:
        raise Conflict("only a published plan version has a handout", code="not_published")
    snapshot = found["snapshot"]
    patient_id: uuid.UUID | None = plan["patient_id"]
    sessions = tuple(
        HandoutSession(
            str(s.get("name") or f"Session {i + 1}"),
            tuple(
                HandoutExercise(
                    name=str(item["exercise"]["name"]),
                    sets=int(item["sets"]),
                    reps=int(item["reps"]),
                    rest_s=int(item.get("rest_s", 0)),
                    hold_s=int(item.get("hold_s", 0)),
                    notes=str(item.get("notes") or ""),
                    description=str(item["exercise"].get("description") or ""),
                    instructions=_instructions(item["exercise"]),
                )
                for item in s.get("exercises", [])
            ),
        )
        for i, s in enumerate(snapshot.get("sessions", []))
    )
    body = Handout(
        plan_name=str(snapshot.get("plan", {}).get("name", "")),
        plan_description=str(snapshot.get("plan", {}).get("description") or ""),
        version=version,
        published_at=found["published_at"],
        sessions=sessions,
        patient_name=None if patient_id is None else await _patient_name(patient_id),
    )
    return Subject(body, found["id"], patient_id)


async def assigned_version(patient_id: uuid.UUID, plan_version_id: uuid.UUID) -> bool:
    """Whether the patient was ever assigned this plan version (their handout, then)."""
    found: bool = await PlanAssignments.exists().where(
        (PlanAssignments.patient_id == patient_id)
        & (PlanAssignments.plan_version_id == plan_version_id)
    )
    return found


def _printed(value: object) -> str:
    """An answer as a form prints it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ", ".join(_printed(v) for v in value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


async def form_patient(conn: asyncpg.Connection, instance_id: uuid.UUID) -> uuid.UUID | None:
    """Whose form it is, to authorize before anything of it is read (None: no such form)."""
    return await instance_patient(conn, instance_id)


async def signed_form(keys: KeyRing, instance_id: uuid.UUID) -> Subject:
    """A signed form instance; Conflict (`not_signed`) for one not signed yet."""
    form = await form_document(keys, instance_id)
    if form is None:
        raise NotFound("form")
    sig = form["signature"]
    if form["status"] != "signed" or sig is None:
        raise Conflict("only a signed form has a document", code="not_signed")
    answers = tuple(
        Answer(str(f["label"]), _printed(form["answers"].get(f["key"])))
        for f in form["fields"]
        if f["type"] != "signature"  # the signature block shows it
    )
    body = SignedForm(
        patient_name=form["patient_name"],
        form_name=str(form["template"]["name"]),
        form_version=int(form["template"]["version"]),
        answers=answers,
        signature=Signature(
            signer_name=sig["signer_name"] or "",
            signed_at=sig["signed_at"],
            method=sig["method"],
            image_png=sig["image"] if sig["method"] == "drawn" else None,
            ip=sig["ip"],
            user_agent=sig["user_agent"],
        ),
    )
    return Subject(body, instance_id, form["patient_id"])
