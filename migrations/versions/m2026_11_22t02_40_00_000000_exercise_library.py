from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T02:40:00:000000"
VERSION = "1.0"
DESCRIPTION = "telerehab: dual-scope row-level security, exercise library"

# Dual scope (the RestartiX pattern): a row whose organization_id IS NULL is global content, read
# by every organization and written only on the platform path (superadmin). The standard tenant
# policy would hide global rows, so these tables get one policy per command instead: reading sees
# global rows and the organization's own; inserting, updating and deleting touch only the
# organization's own rows. An UPDATE of a global row from a tenant transaction matches nothing.
SQL = """
CREATE OR REPLACE FUNCTION enable_dual_scope_rls(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format(
    'CREATE POLICY dual_scope_read ON %s FOR SELECT '
    'USING (organization_id IS NULL OR organization_id = app_org_id())', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_insert ON %s FOR INSERT WITH CHECK (organization_id = app_org_id())', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_update ON %s FOR UPDATE USING (organization_id = app_org_id()) '
    'WITH CHECK (organization_id = app_org_id())', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_delete ON %s FOR DELETE USING (organization_id = app_org_id())', tbl);
END $$;
REVOKE EXECUTE ON FUNCTION enable_dual_scope_rls(regclass) FROM cadence_app, PUBLIC;

-- The kinematic definition (kinematics) is validated by pipelines.pose before every write; the
-- database only checks its shape. translations: {"<lang>": {"name", "description",
-- "instructions", "contraindications"}}, used on read for global rows (an organization's own rows
-- are written in its own language) and baked into a clone.
CREATE TABLE exercises (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid REFERENCES organizations(id),
  slug text CHECK (slug IS NULL OR slug ~ '^[a-z0-9][a-z0-9_-]{1,62}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
  instructions jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(instructions) = 'array'),
  contraindications jsonb NOT NULL DEFAULT '[]'::jsonb
    CHECK (jsonb_typeof(contraindications) = 'array'),
  video_key text CHECK (video_key IS NULL OR length(video_key) BETWEEN 1 AND 512),
  image_key text CHECK (image_key IS NULL OR length(image_key) BETWEEN 1 AND 512),
  category text NOT NULL CHECK (category ~ '^[a-z_]{2,40}$'),
  body_region text NOT NULL CHECK (body_region ~ '^[a-z_]{2,40}$'),
  equipment text[] NOT NULL DEFAULT '{}',
  difficulty text NOT NULL CHECK (difficulty IN ('beginner', 'intermediate', 'advanced')),
  tags text[] NOT NULL DEFAULT '{}',
  kinematics jsonb CHECK (kinematics IS NULL OR jsonb_typeof(kinematics) = 'object'),
  translations jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(translations) = 'object'),
  source_exercise_id uuid REFERENCES exercises(id),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz
);
-- A slug names one live exercise per scope (global rows share the all-zero scope key).
CREATE UNIQUE INDEX exercises_scope_slug ON exercises
  (coalesce(organization_id, '00000000-0000-0000-0000-000000000000'::uuid), slug)
  WHERE slug IS NOT NULL AND deleted_at IS NULL;
CREATE INDEX exercises_org_name ON exercises (organization_id, lower(name), id)
  WHERE deleted_at IS NULL;
CREATE INDEX exercises_tags ON exercises USING gin (tags);
SELECT enable_dual_scope_rls('exercises');
-- Clinical content is retired, never removed: plans and progress records point at it.
REVOKE DELETE, TRUNCATE ON exercises FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
