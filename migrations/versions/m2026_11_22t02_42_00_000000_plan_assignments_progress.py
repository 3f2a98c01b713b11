from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T02:42:00:000000"
VERSION = "1.0"
DESCRIPTION = "telerehab: plan assignments, session completions, exercise logs, questionnaires"

# An assignment points at one published plan version for good: the trigger refuses any change of
# what it points at, and the version itself cannot change once published, so the patient always
# does exactly the snapshot they were given. Progress records are clinical history: the
# application inserts and reads them, never deletes them.
SQL = """
CREATE TABLE plan_assignments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  plan_id uuid NOT NULL REFERENCES treatment_plans(id),
  plan_version_id uuid NOT NULL REFERENCES treatment_plan_versions(id),
  plan_version integer NOT NULL CHECK (plan_version >= 1),
  specialist_id uuid,
  -- {"weekdays": [1, 3, 5]} (ISO weekdays) or {"per_week": 3}; see storage/telerehab/_adherence.
  frequency jsonb NOT NULL CHECK (jsonb_typeof(frequency) = 'object'),
  starts_on date NOT NULL,
  ends_on date,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
  replaces_id uuid,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  ended_at timestamptz,
  CHECK (ends_on IS NULL OR ends_on >= starts_on),
  CHECK ((status = 'ended') = (ended_at IS NOT NULL)),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, specialist_id) REFERENCES specialists (organization_id, id),
  FOREIGN KEY (organization_id, replaces_id) REFERENCES plan_assignments (organization_id, id)
);
CREATE INDEX plan_assignments_patient ON plan_assignments (patient_id, created_at, id);
CREATE INDEX plan_assignments_specialist ON plan_assignments (specialist_id, patient_id);
CREATE INDEX plan_assignments_version ON plan_assignments (plan_version_id);
SELECT enable_tenant_rls('plan_assignments');

-- The version must be published and global or the assignment's organization's own: a foreign
-- key alone would accept another tenant's version (key checks bypass row-level security).
-- SECURITY DEFINER so the check sees the version whatever the caller's policies hide.
CREATE FUNCTION plan_assignment_guard() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v record;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF NEW.plan_version_id IS DISTINCT FROM OLD.plan_version_id
       OR NEW.plan_version IS DISTINCT FROM OLD.plan_version
       OR NEW.plan_id IS DISTINCT FROM OLD.plan_id
       OR NEW.patient_id IS DISTINCT FROM OLD.patient_id
       OR NEW.organization_id IS DISTINCT FROM OLD.organization_id THEN
      RAISE EXCEPTION 'an assignment keeps the plan version it was given'
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END IF;
  SELECT organization_id, plan_id, version, status INTO v
    FROM treatment_plan_versions WHERE id = NEW.plan_version_id;
  IF NOT FOUND OR v.status = 'draft' OR v.plan_id <> NEW.plan_id OR v.version <> NEW.plan_version
     OR (v.organization_id IS NOT NULL AND v.organization_id <> NEW.organization_id) THEN
    RAISE EXCEPTION 'an assignment needs a published version of a visible plan'
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN NEW;
END $$;
REVOKE EXECUTE ON FUNCTION plan_assignment_guard() FROM PUBLIC;
CREATE TRIGGER plan_assignments_guard BEFORE INSERT OR UPDATE ON plan_assignments
  FOR EACH ROW EXECUTE FUNCTION plan_assignment_guard();

-- One row per session the patient did. telerehab_session_id: the live session it came from
-- (unique, so a retried completion of the same session is found rather than counted twice).
CREATE TABLE session_completions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  assignment_id uuid NOT NULL,
  plan_version_id uuid NOT NULL REFERENCES treatment_plan_versions(id),
  session_index smallint NOT NULL CHECK (session_index >= 0),
  telerehab_session_id uuid UNIQUE,
  source text NOT NULL CHECK (source IN ('telerehab', 'manual')),
  status text NOT NULL CHECK (status IN ('completed', 'partial')),
  started_at timestamptz NOT NULL,
  completed_at timestamptz NOT NULL,
  duration_s integer NOT NULL CHECK (duration_s >= 0),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (completed_at >= started_at),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, assignment_id) REFERENCES plan_assignments (organization_id, id)
);
CREATE INDEX session_completions_patient ON session_completions (patient_id, completed_at, id);
CREATE INDEX session_completions_assignment ON session_completions (assignment_id, completed_at);
SELECT enable_tenant_rls('session_completions');

-- One row per exercise of a completed session; angles in degrees, cues as {code: count}.
CREATE TABLE exercise_logs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  completion_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  exercise_id uuid NOT NULL REFERENCES exercises(id),
  position smallint NOT NULL CHECK (position >= 0),
  sets_target smallint NOT NULL CHECK (sets_target >= 0),
  reps_target smallint NOT NULL CHECK (reps_target >= 0),
  sets_done smallint NOT NULL CHECK (sets_done >= 0),
  reps_done integer NOT NULL CHECK (reps_done >= 0),
  rom_min_deg real CHECK (rom_min_deg BETWEEN 0 AND 180),
  rom_max_deg real CHECK (rom_max_deg BETWEEN 0 AND 180),
  rom_mean_deg real CHECK (rom_mean_deg BETWEEN 0 AND 180),
  tempo_mean_ms integer CHECK (tempo_mean_ms >= 0),
  cues jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(cues) = 'object'),
  duration_s integer NOT NULL CHECK (duration_s >= 0),
  pain smallint CHECK (pain BETWEEN 0 AND 10),
  UNIQUE (completion_id, position),
  CHECK (rom_min_deg IS NULL OR rom_max_deg IS NULL OR rom_min_deg <= rom_max_deg),
  FOREIGN KEY (organization_id, completion_id) REFERENCES session_completions (organization_id, id)
);
CREATE INDEX exercise_logs_patient_exercise ON exercise_logs (patient_id, exercise_id);
SELECT enable_tenant_rls('exercise_logs');

-- The post-session questionnaire: pain (0-10 numeric rating scale), difficulty (0-10, Borg CR10
-- perceived exertion), an optional note. One per completed session.
CREATE TABLE session_questionnaires (
  completion_id uuid PRIMARY KEY,
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  pain smallint NOT NULL CHECK (pain BETWEEN 0 AND 10),
  difficulty smallint NOT NULL CHECK (difficulty BETWEEN 0 AND 10),
  note text CHECK (note IS NULL OR length(note) <= 2000),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (organization_id, completion_id) REFERENCES session_completions (organization_id, id)
);
SELECT enable_tenant_rls('session_questionnaires');

REVOKE DELETE, TRUNCATE ON plan_assignments, session_completions, exercise_logs,
  session_questionnaires FROM cadence_app;
REVOKE UPDATE ON session_completions, exercise_logs, session_questionnaires FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
