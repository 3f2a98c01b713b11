from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T02:41:00:000000"
VERSION = "1.0"
DESCRIPTION = "telerehab: treatment plans in three scopes, versions with immutable snapshots"

# Scopes: global (organization_id NULL, dual-scope policy), organization, custom (one patient).
# A version is a draft while it is edited; publishing freezes it into `snapshot` (the sessions
# with every exercise's definition copied in), after which the row may only be archived. The
# trigger is the proof of that rule: it holds for every writer, platform path included.
SQL = """
CREATE TABLE treatment_plans (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid REFERENCES organizations(id),
  scope text NOT NULL CHECK (scope IN ('global', 'organization', 'custom')),
  patient_id uuid,
  -- The specialist who prescribed a custom plan: the patient is then one of theirs.
  specialist_id uuid,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
  plan_type text NOT NULL DEFAULT 'telerehab' CHECK (plan_type IN ('telerehab', 'in_clinic')),
  source_plan_id uuid REFERENCES treatment_plans(id),
  source_version integer,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  CHECK ((scope = 'global') = (organization_id IS NULL)),
  CHECK ((scope = 'custom') = (patient_id IS NOT NULL)),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, specialist_id) REFERENCES specialists (organization_id, id)
);
CREATE INDEX treatment_plans_org_name ON treatment_plans (organization_id, lower(name), id)
  WHERE deleted_at IS NULL;
CREATE INDEX treatment_plans_patient ON treatment_plans (patient_id, specialist_id)
  WHERE patient_id IS NOT NULL;
SELECT enable_dual_scope_rls('treatment_plans');

CREATE TABLE treatment_plan_versions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid REFERENCES organizations(id),
  plan_id uuid NOT NULL REFERENCES treatment_plans(id),
  version integer NOT NULL CHECK (version >= 1),
  status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'archived')),
  content jsonb NOT NULL CHECK (jsonb_typeof(content) = 'object'),
  snapshot jsonb,
  snapshot_digest text,
  created_by uuid,
  published_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz,
  UNIQUE (plan_id, version),
  UNIQUE (organization_id, id),
  -- The composite key keeps an organization's version on its own plan (foreign-key checks
  -- bypass row-level security); for global rows both sides are NULL and plan_id's key holds.
  FOREIGN KEY (organization_id, plan_id) REFERENCES treatment_plans (organization_id, id),
  CHECK ((status = 'draft') = (snapshot IS NULL)),
  CHECK ((status = 'draft') = (published_at IS NULL)),
  CHECK ((snapshot IS NULL) = (snapshot_digest IS NULL))
);
CREATE UNIQUE INDEX treatment_plan_versions_one_draft ON treatment_plan_versions (plan_id)
  WHERE status = 'draft';
SELECT enable_dual_scope_rls('treatment_plan_versions');

CREATE FUNCTION treatment_plan_version_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'published plan versions are immutable' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status = 'draft' THEN
    RETURN NEW;
  END IF;
  -- Published or archived: the only change is published -> archived, nothing else moves.
  IF NOT (OLD.status = 'published' AND NEW.status = 'archived')
     OR NEW.content IS DISTINCT FROM OLD.content
     OR NEW.snapshot IS DISTINCT FROM OLD.snapshot
     OR NEW.snapshot_digest IS DISTINCT FROM OLD.snapshot_digest
     OR NEW.version IS DISTINCT FROM OLD.version
     OR NEW.plan_id IS DISTINCT FROM OLD.plan_id
     OR NEW.organization_id IS DISTINCT FROM OLD.organization_id
     OR NEW.published_at IS DISTINCT FROM OLD.published_at
     OR NEW.published_by IS DISTINCT FROM OLD.published_by THEN
    RAISE EXCEPTION 'published plan versions are immutable' USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER treatment_plan_versions_immutable
  BEFORE UPDATE OR DELETE ON treatment_plan_versions
  FOR EACH ROW EXECUTE FUNCTION treatment_plan_version_guard();

REVOKE DELETE, TRUNCATE ON treatment_plans FROM cadence_app;
REVOKE TRUNCATE ON treatment_plan_versions FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
