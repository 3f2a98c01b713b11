"""The exercise library, treatment plans, assignments and completed sessions."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, Array, Date, Integer, Real, SmallInt, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class Exercises(Table, tablename="exercises", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID(null=True, default=None)
    slug = Text(null=True, default=None)
    name = Text()
    description = Text(default="")
    instructions = JSONB()
    contraindications = JSONB()
    video_key = Text(null=True, default=None)
    image_key = Text(null=True, default=None)
    category = Text()
    body_region = Text()
    equipment = Array(Text())
    difficulty = Text()
    tags = Array(Text())
    kinematics = JSONB(null=True, default=None)
    translations = JSONB()
    source_exercise_id = UUID(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class TreatmentPlans(Table, tablename="treatment_plans", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID(null=True, default=None)
    scope = Text()
    patient_id = UUID(null=True, default=None)
    specialist_id = UUID(null=True, default=None)
    name = Text()
    description = Text(default="")
    plan_type = Text(default="telerehab")
    source_plan_id = UUID(null=True, default=None)
    source_version = Integer(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class TreatmentPlanVersions(Table, tablename="treatment_plan_versions", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID(null=True, default=None)
    plan_id = UUID()
    version = Integer()
    status = Text(default="draft")
    content = JSONB()
    snapshot = JSONB(null=True, default=None)
    snapshot_digest = Text(null=True, default=None)
    created_by = UUID(null=True, default=None)
    published_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    published_at = Timestamptz(null=True, default=None)


class PlanAssignments(Table, tablename="plan_assignments", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    plan_id = UUID()
    plan_version_id = UUID()
    plan_version = Integer()
    specialist_id = UUID(null=True, default=None)
    frequency = JSONB()
    starts_on = Date()
    ends_on = Date(null=True, default=None)
    status = Text(default="active")
    replaces_id = UUID(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    ended_at = Timestamptz(null=True, default=None)


class SessionCompletions(Table, tablename="session_completions", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    patient_id = UUID()
    assignment_id = UUID()
    plan_version_id = UUID()
    session_index = SmallInt()
    telerehab_session_id = UUID(null=True, default=None)
    source = Text()
    status = Text()
    started_at = Timestamptz()
    completed_at = Timestamptz()
    duration_s = Integer()
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class ExerciseLogs(Table, tablename="exercise_logs", db=ENGINE):
    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    completion_id = UUID()
    patient_id = UUID()
    exercise_id = UUID()
    position = SmallInt()
    sets_target = SmallInt()
    reps_target = SmallInt()
    sets_done = SmallInt()
    reps_done = Integer()
    rom_min_deg = Real(null=True, default=None)
    rom_max_deg = Real(null=True, default=None)
    rom_mean_deg = Real(null=True, default=None)
    tempo_mean_ms = Integer(null=True, default=None)
    cues = JSONB()
    duration_s = Integer()
    pain = SmallInt(null=True, default=None)


class SessionQuestionnaires(Table, tablename="session_questionnaires", db=ENGINE):
    """Primary key (completion_id, organization_id); Piccolo knows one column of it."""

    completion_id = UUID(primary_key=True)
    organization_id = UUID()
    patient_id = UUID()
    pain = SmallInt()
    difficulty = SmallInt()
    note = Text(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
