from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-02T06:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "tenant seal: app.org_id counts only with an HMAC under a key only the owner reads"

SQL = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- One random key, readable by the schema owner only. The server reads it through its owner pool
-- at start and seals the organization of each tenant transaction with it; SQL that the
-- application role runs (an injected statement included) cannot make a seal for another tenant.
CREATE TABLE tenant_seal_key (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  key bytea NOT NULL CHECK (length(key) >= 32)
);
INSERT INTO tenant_seal_key (key) VALUES (gen_random_bytes(32));
REVOKE ALL ON tenant_seal_key FROM PUBLIC, cadence_app;

-- `<uuid>.<hex hmac-sha256(key, uuid)>`: the organization; unset: NULL (no tenant rows); a value
-- with a wrong seal: an error, so a forged context fails loudly instead of reading as empty.
CREATE OR REPLACE FUNCTION app_org_id() RETURNS uuid
  LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  setting text := current_setting('app.org_id', true);
  org text;
BEGIN
  IF setting IS NULL OR setting = '' THEN
    RETURN NULL;
  END IF;
  org := split_part(setting, '.', 1);
  IF split_part(setting, '.', 2) IS DISTINCT FROM
     encode(hmac(convert_to(org, 'UTF8'), (SELECT key FROM tenant_seal_key), 'sha256'), 'hex') THEN
    RAISE EXCEPTION 'app.org_id is not sealed' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN org::uuid;
END $$;
GRANT EXECUTE ON FUNCTION app_org_id() TO cadence_app;

-- Policies compare against `(SELECT app_org_id())`: an init plan, so the seal is checked once per
-- query rather than once per row (a SECURITY DEFINER function is never inlined).
DO $$
DECLARE
  p record;
  sealed text := '(SELECT app_org_id())';
BEGIN
  FOR p IN SELECT schemaname, tablename, policyname, qual, with_check FROM pg_policies
           WHERE schemaname = 'public'
             AND (qual LIKE '%app_org_id()%' OR with_check LIKE '%app_org_id()%') LOOP
    IF p.qual IS NOT NULL AND p.qual NOT LIKE '%SELECT app_org_id()%' THEN
      EXECUTE format('ALTER POLICY %I ON %I.%I USING (%s)', p.policyname, p.schemaname,
                     p.tablename, replace(p.qual, 'app_org_id()', sealed));
    END IF;
    IF p.with_check IS NOT NULL AND p.with_check NOT LIKE '%SELECT app_org_id()%' THEN
      EXECUTE format('ALTER POLICY %I ON %I.%I WITH CHECK (%s)', p.policyname, p.schemaname,
                     p.tablename, replace(p.with_check, 'app_org_id()', sealed));
    END IF;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION enable_tenant_rls(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
  EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', tbl);
  EXECUTE format(
    'CREATE POLICY tenant_isolation ON %s USING (organization_id = (SELECT app_org_id())) '
    'WITH CHECK (organization_id = (SELECT app_org_id()))', tbl);
END $$;
REVOKE EXECUTE ON FUNCTION enable_tenant_rls(regclass) FROM cadence_app, PUBLIC;

CREATE OR REPLACE FUNCTION ensure_monthly_partitions(parent regclass, months_ahead int, months_back int)
RETURNS int LANGUAGE plpgsql AS $$
DECLARE
  first date := date_trunc('month', now())::date;
  made int := 0;
  m date;
  part text;
BEGIN
  FOR i IN -months_back..months_ahead LOOP
    m := (first + make_interval(months => i))::date;
    part := format('%s_p%s', parent::text, to_char(m, 'YYYY_MM'));
    IF to_regclass(part) IS NULL THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                     part, parent, m, (m + interval '1 month')::date);
      EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
      EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', part);
      EXECUTE format('CREATE POLICY tenant_isolation ON %I USING '
                     '(organization_id = (SELECT app_org_id())) '
                     'WITH CHECK (organization_id = (SELECT app_org_id()))', part);
      IF parent::text = 'audit_log' THEN
        EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM cadence_app', part);
      END IF;
      made := made + 1;
    END IF;
  END LOOP;
  RETURN made;
END $$;
REVOKE EXECUTE ON FUNCTION ensure_monthly_partitions(regclass, int, int) FROM cadence_app, PUBLIC;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
