"""Progress records: session completions with per-exercise logs, the post-session questionnaire,
and adherence (sessions done vs scheduled in a period).

`record_completion` is the one writer of completions: the telerehab session actors call it when a
live session ends (with `telerehab_session_id`, which makes a retried call return the first
record), and the REST layer calls it for a session done without the camera.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg

from storage.audit import AuditActor, record
from storage.crypto import LEGACY, FieldRef, KeyRing
from storage.orm import first, rows
from storage.tables import ExerciseLogs, SessionCompletions, SessionQuestionnaires
from storage.telerehab import _keyset as keyset
from storage.telerehab._adherence import Adherence, Frequency, scheduled_sessions
from storage.telerehab._assignments import load_assigned_plan
from storage.telerehab._errors import Conflict, Invalid, NotFound
from storage.telerehab._states import AssignmentStatus


@dataclass(frozen=True, slots=True)
class ExerciseSummary:
    """What the patient did of one prescribed exercise. Angles in degrees; `cues`: how often
    each form cue (by code) was given; `pain`: 0-10 if the patient reported it."""

    position: int
    exercise_id: uuid.UUID
    sets_done: int
    reps_done: int
    duration_s: int
    rom_min_deg: float | None = None
    rom_max_deg: float | None = None
    rom_mean_deg: float | None = None
    tempo_mean_ms: int | None = None
    cues: Mapping[str, int] = field(default_factory=dict)
    pain: int | None = None
    sets_target: int = 0  # filled from the snapshot on write
    reps_target: int = 0


@dataclass(frozen=True, slots=True)
class SessionRecord:
    assignment_id: uuid.UUID
    session_index: int
    started_at: datetime
    completed_at: datetime
    exercises: Sequence[ExerciseSummary]
    status: str = "completed"  # or "partial": ended before every exercise was done
    source: str = "telerehab"  # or "manual": done without the camera, reported by REST
    telerehab_session_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Questionnaire:
    pain: int
    difficulty: int
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Completion:
    id: uuid.UUID
    patient_id: uuid.UUID
    assignment_id: uuid.UUID
    plan_version_id: uuid.UUID
    session_index: int
    telerehab_session_id: uuid.UUID | None
    source: str
    status: str
    started_at: datetime
    completed_at: datetime
    duration_s: int
    exercises: tuple[ExerciseSummary, ...] = ()
    questionnaire: Questionnaire | None = None


_C = SessionCompletions
_COMPLETION = (
    _C.id, _C.patient_id, _C.assignment_id, _C.plan_version_id, _C.session_index,
    _C.telerehab_session_id, _C.source, _C.status, _C.started_at, _C.completed_at, _C.duration_s,
)  # fmt: skip
_L = ExerciseLogs
_LOG = (
    _L.position, _L.exercise_id, _L.sets_done, _L.reps_done, _L.duration_s, _L.rom_min_deg,
    _L.rom_max_deg, _L.rom_mean_deg, _L.tempo_mean_ms, _L.cues, _L.pain, _L.sets_target,
    _L.reps_target,
)  # fmt: skip
_Q = SessionQuestionnaires


def _check(rec: SessionRecord, prescribed: Mapping[int, Any], session_count: int) -> None:
    fields: dict[str, str] = {}
    if not 0 <= rec.session_index < session_count:
        fields["session_index"] = f"must be 0..{session_count - 1} (the plan's sessions)"
    if rec.completed_at < rec.started_at:
        fields["completed_at"] = "must not be before started_at"
    if rec.status not in ("completed", "partial"):
        fields["status"] = "must be completed or partial"
    seen: set[int] = set()
    for i, ex in enumerate(rec.exercises):
        path = f"exercises.{i}"
        item = prescribed.get(ex.position)
        if ex.position in seen:
            fields[f"{path}.position"] = "is reported twice"
        seen.add(ex.position)
        if item is None:
            fields[f"{path}.position"] = "is not an exercise of this session"
        elif uuid.UUID(item["exercise_id"]) != ex.exercise_id:
            fields[f"{path}.exercise_id"] = "is not the exercise prescribed at this position"
        roms = [v for v in (ex.rom_min_deg, ex.rom_mean_deg, ex.rom_max_deg) if v is not None]
        if any(not 0 <= v <= 180 for v in roms):
            fields[f"{path}.rom"] = "angles must be 0..180 degrees"
        elif roms != sorted(roms):
            fields[f"{path}.rom"] = "must satisfy rom_min_deg <= rom_mean_deg <= rom_max_deg"
        if ex.pain is not None and not 0 <= ex.pain <= 10:
            fields[f"{path}.pain"] = "must be 0..10"
        if min(ex.sets_done, ex.reps_done, ex.duration_s) < 0:
            fields[path] = "counts and durations must not be negative"
    if fields:
        raise Invalid(fields)


async def record_completion(
    conn: asyncpg.Connection, rec: SessionRecord, *, org_id: uuid.UUID, actor: AuditActor
) -> Completion:
    """Store a done session against its assignment's snapshot (tenant transaction, `conn` its
    connection). Idempotent per `telerehab_session_id`. Raises NotFound, Invalid, or Conflict
    (assignment ended)."""
    if rec.telerehab_session_id is not None:
        existing = await completion_for_session(rec.telerehab_session_id)
        if existing is not None:
            return existing
    assigned = await load_assigned_plan(rec.assignment_id)
    if assigned.assignment.status is not AssignmentStatus.ACTIVE:
        raise Conflict("the plan assignment has ended")
    sessions = assigned.snapshot["sessions"]
    prescribed: dict[int, Any] = {}
    if 0 <= rec.session_index < len(sessions):
        prescribed = {item["position"]: item for item in sessions[rec.session_index]["exercises"]}
    _check(rec, prescribed, len(sessions))
    duration = int((rec.completed_at - rec.started_at).total_seconds())
    # ON CONFLICT: a pose worker retrying the same session races its first call; one row wins.
    row = await conn.fetchrow(
        """INSERT INTO session_completions (organization_id, patient_id, assignment_id,
              plan_version_id, session_index, telerehab_session_id, source, status, started_at,
              completed_at, duration_s, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (organization_id, telerehab_session_id) DO NOTHING
            RETURNING id""",
        org_id,
        assigned.assignment.patient_id,
        rec.assignment_id,
        assigned.assignment.plan_version_id,
        rec.session_index,
        rec.telerehab_session_id,
        rec.source,
        rec.status,
        rec.started_at,
        rec.completed_at,
        duration,
        actor.user_id,
    )
    if row is None:  # a concurrent call of the same session won the insert
        assert rec.telerehab_session_id is not None
        existing = await completion_for_session(rec.telerehab_session_id)
        assert existing is not None
        return existing
    if rec.exercises:
        await ExerciseLogs.insert(
            *(
                ExerciseLogs(
                    organization_id=org_id, completion_id=row["id"],
                    patient_id=assigned.assignment.patient_id, position=ex.position,
                    exercise_id=ex.exercise_id, sets_done=ex.sets_done, reps_done=ex.reps_done,
                    duration_s=ex.duration_s, rom_min_deg=ex.rom_min_deg,
                    rom_max_deg=ex.rom_max_deg, rom_mean_deg=ex.rom_mean_deg,
                    tempo_mean_ms=ex.tempo_mean_ms, cues=dict(ex.cues), pain=ex.pain,
                    sets_target=prescribed[ex.position]["sets"],
                    reps_target=prescribed[ex.position]["reps"],
                )
                for ex in rec.exercises
            )
        )  # fmt: skip
    await record(
        conn, actor=actor, organization_id=org_id, action="session_completion.recorded",
        entity="session_completion", entity_id=row["id"],
        after={"assignment_id": rec.assignment_id, "session_index": rec.session_index,
               "status": rec.status, "source": rec.source},
    )  # fmt: skip
    return await get_completion(row["id"])


def _summary(row: Mapping[str, Any]) -> ExerciseSummary:
    return ExerciseSummary(**dict(row))


async def get_completion(completion_id: uuid.UUID, keys: KeyRing | None = None) -> Completion:
    """The completion with its exercises and questionnaire. The questionnaire's note is sealed
    at rest (storage/sealed.py): opened with `keys`; without them (paths that never show it)
    it is given as None rather than as ciphertext."""
    row = await first(_C.select(*_COMPLETION).where(_C.id == completion_id).first())
    if row is None:
        raise NotFound("session completion")
    logs = await rows(
        _L.select(*_LOG).where(_L.completion_id == completion_id).order_by(_L.position)
    )
    q = await first(
        _Q.select(_Q.pain, _Q.difficulty, _Q.note, _Q.created_at, _Q.organization_id)
        .where(_Q.completion_id == completion_id)
        .first()
    )
    questionnaire = None
    if q is not None:
        note = q["note"]
        if note is not None:
            where = FieldRef("session_questionnaires", "note", completion_id, q["organization_id"])
            note = keys.open(note, where) if keys is not None else None
        questionnaire = Questionnaire(q["pain"], q["difficulty"], note, q["created_at"])
    return Completion(
        **row,
        exercises=tuple(_summary(r) for r in logs),
        questionnaire=questionnaire,
    )


async def completion_for_session(
    telerehab_session_id: uuid.UUID, keys: KeyRing | None = None
) -> Completion | None:
    row = await first(
        _C.select(_C.id).where(_C.telerehab_session_id == telerehab_session_id).first()
    )
    return None if row is None else await get_completion(row["id"], keys)


async def completed_sessions(assignment_id: uuid.UUID) -> int:
    """How many sessions of the assignment were done in full (a partial one does not count)."""
    done: int = await _C.count().where(
        (_C.assignment_id == assignment_id) & (_C.status == "completed")
    )
    return done


async def list_completions(
    patient_id: uuid.UUID,
    *,
    limit: int = 50,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> list[Completion]:
    """The patient's completions, newest first, without logs (fetch one for its details)."""
    query = _C.select(*_COMPLETION).where(_C.patient_id == patient_id)
    if after is not None:
        query = query.where(keyset.before(_C.completed_at, _C.id, after))
    found = await rows(query.order_by(_C.completed_at, _C.id, ascending=False).limit(limit))
    return [Completion(**r) for r in found]


async def record_questionnaire(
    conn: asyncpg.Connection,
    completion_id: uuid.UUID,
    *,
    pain: int,
    difficulty: int,
    note: str | None,
    org_id: uuid.UUID,
    actor: AuditActor,
    keys: KeyRing | None = None,
) -> Questionnaire:
    """Answer the post-session questionnaire once; Conflict when it was already answered.
    The note is clinical free text, sealed with `keys` (without them, stored tagged for the
    next `cadence keys rotate`)."""
    completion = await get_completion(completion_id)
    fields = {
        name: "must be an integer 0..10"
        for name, value in (("pain", pain), ("difficulty", difficulty))
        if not 0 <= value <= 10
    }
    if note is not None and len(note) > 2000:
        fields["note"] = "must be at most 2000 characters"
    if fields:
        raise Invalid(fields)
    stored = note
    if note is not None:
        where = FieldRef("session_questionnaires", "note", completion_id, org_id)
        stored = keys.seal(note, where) if keys is not None else LEGACY + note
    # ON CONFLICT: the questionnaire is answered once, also when two answers race.
    row = await conn.fetchrow(
        """INSERT INTO session_questionnaires (completion_id, organization_id, patient_id, pain,
             difficulty, note, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (organization_id, completion_id) DO NOTHING
           RETURNING pain, difficulty, created_at""",
        completion_id,
        org_id,
        completion.patient_id,
        pain,
        difficulty,
        stored,
        actor.user_id,
    )
    if row is None:
        raise Conflict("the questionnaire of this session was already answered")
    await record(
        conn, actor=actor, organization_id=org_id, action="session_questionnaire.answered",
        entity="session_completion", entity_id=completion_id,
        after={"pain": pain, "difficulty": difficulty, "note": note},
    )  # fmt: skip
    return Questionnaire(row["pain"], row["difficulty"], note, row["created_at"])


@dataclass(frozen=True, slots=True)
class AssignmentAdherence:
    assignment_id: uuid.UUID
    plan_id: uuid.UUID
    plan_version: int
    adherence: Adherence


async def adherence(
    conn: asyncpg.Connection, patient_id: uuid.UUID, *, period_from: date, period_to: date
) -> tuple[Adherence, list[AssignmentAdherence]]:
    """Sessions done vs scheduled per assignment and in total, for the days of the period
    (inclusive) in the organization's time zone. An ended assignment schedules nothing after
    the day it ended; only `completed` sessions count (a `partial` one is not a session done).

    SQL: days are counted in the organization's zone (`AT TIME ZONE` of a value read in the same
    statement) and each assignment's count is a correlated aggregate, one round trip in all."""
    found = await conn.fetch(
        """WITH tz AS (SELECT coalesce((SELECT timezone FROM organizations
                                        WHERE id = app_org_id()), 'UTC') AS name)
           SELECT a.id, a.plan_id, a.plan_version, a.frequency, a.starts_on, a.ends_on,
                  (a.ended_at AT TIME ZONE tz.name)::date AS ended_on,
                  (SELECT count(*) FROM session_completions c
                    WHERE c.assignment_id = a.id AND c.status = 'completed'
                      AND (c.completed_at AT TIME ZONE tz.name)::date BETWEEN $2 AND $3) AS done
           FROM plan_assignments a, tz
           WHERE a.patient_id = $1 AND a.starts_on <= $3
           ORDER BY a.created_at, a.id""",
        patient_id,
        period_from,
        period_to,
    )
    items: list[AssignmentAdherence] = []
    total = Adherence.of(0, 0)
    for r in found:
        last = r["ends_on"]
        if r["ended_on"] is not None and (last is None or r["ended_on"] < last):
            last = r["ended_on"]
        scheduled = scheduled_sessions(
            Frequency.from_json(r["frequency"]),
            starts_on=r["starts_on"],
            ends_on=last,
            period_from=period_from,
            period_to=period_to,
        )
        if scheduled == 0 and r["done"] == 0:
            continue
        item = Adherence.of(scheduled, int(r["done"]))
        items.append(AssignmentAdherence(r["id"], r["plan_id"], r["plan_version"], item))
        total = total + item
    return total, items
