from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T03:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "telemetry: monthly-partitioned events, daily rollups, partitions looking back too"

SQL = """
-- Telemetry may arrive up to 30 days late, so partition upkeep also keeps last month.
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
CREATE OR REPLACE FUNCTION ensure_monthly_partitions(parent regclass, months_ahead int)
RETURNS int LANGUAGE sql AS $$ SELECT ensure_monthly_partitions(parent, months_ahead, 0) $$;
REVOKE EXECUTE ON FUNCTION ensure_monthly_partitions(regclass, int, int) FROM cadence_app, PUBLIC;

-- No foreign keys here: the ingest path is COPY-heavy and RLS's WITH CHECK already pins each row
-- to the writing organization. Rows carry ids and measurements only.
CREATE TABLE telemetry_events (
  organization_id uuid NOT NULL,
  patient_id uuid,
  session_id uuid,
  exercise_id uuid,
  event_id uuid NOT NULL,
  type text NOT NULL,
  t timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  data jsonb NOT NULL,
  PRIMARY KEY (event_id, t)
) PARTITION BY RANGE (t);
CREATE INDEX telemetry_events_patient ON telemetry_events (organization_id, patient_id, t);
SELECT enable_tenant_rls('telemetry_events');
SELECT ensure_monthly_partitions('telemetry_events', 3, 1);

CREATE TABLE telemetry_rom_daily (
  organization_id uuid NOT NULL REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  exercise_id uuid NOT NULL,
  day date NOT NULL,
  reps int NOT NULL,
  rom_sum double precision NOT NULL,
  rom_min double precision NOT NULL,
  rom_max double precision NOT NULL,
  PRIMARY KEY (organization_id, patient_id, exercise_id, day)
);
SELECT enable_tenant_rls('telemetry_rom_daily');

CREATE TABLE telemetry_sessions_daily (
  organization_id uuid NOT NULL REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  day date NOT NULL,
  sessions_completed int NOT NULL DEFAULT 0,
  active_ms bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (organization_id, patient_id, day)
);
SELECT enable_tenant_rls('telemetry_sessions_daily');
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
