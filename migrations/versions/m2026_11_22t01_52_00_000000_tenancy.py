from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T01:52:00:000000"
VERSION = "1.0"
DESCRIPTION = "tenancy core: organizations, RLS helper, append-only partitioned audit log"

SQL = """
CREATE TABLE organizations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
  timezone text NOT NULL DEFAULT 'UTC',
  language text NOT NULL DEFAULT 'en',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- The organizations table is tenant data too: a tenant sees its own row only.
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON organizations USING (id = app_org_id()) WITH CHECK (id = app_org_id());

-- Every tenant table calls this once: RLS on, forced, one policy comparing organization_id with
-- the transaction's organization. A table without it fails tests/integration/test_rls_tables.
CREATE OR REPLACE FUNCTION enable_tenant_rls(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s USING (organization_id = app_org_id()) '
    'WITH CHECK (organization_id = app_org_id())', tbl);
END $$;

CREATE TABLE audit_log (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid,
  actor_user_id uuid,
  actor_role text,
  action text NOT NULL,
  entity text NOT NULL,
  entity_id text,
  diff jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id text,
  ip inet,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE INDEX audit_log_org_time ON audit_log (organization_id, created_at DESC);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
SELECT enable_tenant_rls('audit_log');
-- Append-only for the application: it may insert and read, never change or remove.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM cadence_app;

-- Monthly partitions of a range-partitioned table; `cadence partitions` calls this ahead of time.
CREATE OR REPLACE FUNCTION ensure_monthly_partitions(parent regclass, months_ahead int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  first date := date_trunc('month', now())::date;
  made int := 0;
  m date;
  part text;
BEGIN
  FOR i IN 0..months_ahead LOOP
    m := (first + make_interval(months => i))::date;
    part := format('%s_p%s', parent::text, to_char(m, 'YYYY_MM'));
    IF to_regclass(part) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                     part, parent, m, (m + interval '1 month')::date);
      -- Partitions are reachable directly too; keep the parent's guarantees on them.
      EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
      EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', part);
      EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (organization_id = app_org_id()) '
                     'WITH CHECK (organization_id = app_org_id())', part);
      IF parent::text = 'audit_log' THEN
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM cadence_app', part);
      END IF;
      made := made + 1;
    END IF;
  END LOOP;
  RETURN made;
END $$;
REVOKE EXECUTE ON FUNCTION ensure_monthly_partitions(regclass, int) FROM cadence_app, PUBLIC;
REVOKE EXECUTE ON FUNCTION enable_tenant_rls(regclass) FROM cadence_app, PUBLIC;
SELECT ensure_monthly_partitions('audit_log', 3);
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
