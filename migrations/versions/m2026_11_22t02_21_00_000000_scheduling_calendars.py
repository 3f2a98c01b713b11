from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T02:21:00:000000"
VERSION = "1.0"
DESCRIPTION = "calendars: the bookable unit, its specialists, and calendar_visibility()"

# Weekly hours inside calendars (calendar-wide and per specialist) are small documents that are
# always read with their parent: jsonb [{"weekday": 1-7, "start_min": m, "end_min": m}, ...].
SQL = """
CREATE TABLE calendars (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  service_id uuid NOT NULL,
  timezone text NOT NULL CHECK (length(timezone) BETWEEN 1 AND 64),
  public boolean NOT NULL DEFAULT false,
  slot_interval_min integer NOT NULL CHECK (slot_interval_min BETWEEN 1 AND 1440),
  min_notice_min integer NOT NULL DEFAULT 0 CHECK (min_notice_min BETWEEN 0 AND 525600),
  horizon_days integer CHECK (horizon_days BETWEEN 0 AND 730),
  period_start date,
  period_end date,
  assignment text NOT NULL DEFAULT 'priority'
    CHECK (assignment IN ('round_robin', 'priority', 'patient_choice')),
  hours jsonb CHECK (hours IS NULL OR jsonb_typeof(hours) = 'array'),
  daily_cap integer CHECK (daily_cap IS NULL OR daily_cap >= 1),
  hold_ttl_s integer NOT NULL DEFAULT 600 CHECK (hold_ttl_s BETWEEN 30 AND 3600),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  -- Exactly one horizon: rolling N days, or a fixed campaign period.
  CHECK ((horizon_days IS NULL) <> (period_start IS NULL)),
  CHECK ((period_start IS NULL) = (period_end IS NULL)),
  CHECK (period_end IS NULL OR period_end >= period_start),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, service_id) REFERENCES services (organization_id, id)
);
CREATE INDEX calendars_org_created ON calendars (organization_id, created_at, id);
SELECT enable_tenant_rls('calendars');

CREATE TABLE calendar_specialists (
  organization_id uuid NOT NULL DEFAULT app_org_id(),
  calendar_id uuid NOT NULL,
  specialist_id uuid NOT NULL,
  priority integer NOT NULL DEFAULT 0,
  hours jsonb CHECK (hours IS NULL OR jsonb_typeof(hours) = 'array'),
  -- Round-robin tracking: bookings this calendar assigned to this specialist so far.
  assignments bigint NOT NULL DEFAULT 0 CHECK (assignments >= 0),
  PRIMARY KEY (calendar_id, specialist_id),
  FOREIGN KEY (organization_id, calendar_id)
    REFERENCES calendars (organization_id, id) ON DELETE CASCADE,
  FOREIGN KEY (organization_id, specialist_id) REFERENCES specialists (organization_id, id)
);
CREATE INDEX calendar_specialists_specialist ON calendar_specialists (specialist_id);
SELECT enable_tenant_rls('calendar_specialists');

-- Who owns a calendar and whether it is public, without a tenant context: the channel policy
-- and the public endpoints need it before they know the organization. It reveals nothing else.
CREATE FUNCTION calendar_visibility(calendar_id uuid)
  RETURNS TABLE (organization_id uuid, public boolean)
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS
  $$ SELECT c.organization_id, c.public FROM calendars c
     WHERE c.id = calendar_visibility.calendar_id AND c.deleted_at IS NULL $$;
REVOKE EXECUTE ON FUNCTION calendar_visibility(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION calendar_visibility(uuid) TO cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
