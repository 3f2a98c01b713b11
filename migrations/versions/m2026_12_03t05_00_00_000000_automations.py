from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-03T05:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "automations: rules, segments and their runs"

# A segment is a saved patient filter: a small JSON definition (storage/automations/_segments.py
# validates it and compiles it to parameterized SQL over `patients`). A rule is a trigger (an
# event type), conditions and actions; rules and segments are soft-deleted so the run log keeps
# what it points at. A run is one rule for one event: the unique key (rule, event) is how a
# redelivered event runs a rule at most once; a `running` row whose lease has passed is taken
# over by the retry (the worker that held it died), `actions` holds each action's outcome as it
# finishes, so a retry does only the actions not done yet.
SQL = """
CREATE TABLE segments (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
  definition jsonb NOT NULL CHECK (jsonb_typeof(definition) = 'object'),
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (organization_id, id)
);
CREATE UNIQUE INDEX segments_name ON segments (organization_id, lower(name))
  WHERE deleted_at IS NULL;
CREATE INDEX segments_live ON segments (organization_id, created_at, id) WHERE deleted_at IS NULL;
SELECT enable_tenant_rls('segments');

CREATE TABLE automation_rules (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
  trigger text NOT NULL CHECK (trigger ~ '^[a-z][a-z0-9_]*\\.[a-z][a-z0-9_.]*$'),
  conditions jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(conditions) = 'array'),
  actions jsonb NOT NULL CHECK (jsonb_typeof(actions) = 'array'
                                AND jsonb_array_length(actions) BETWEEN 1 AND 10),
  enabled boolean NOT NULL DEFAULT true,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  deleted_at timestamptz,
  PRIMARY KEY (organization_id, id),
  -- The loop guard, held for every writer: what automations publish never triggers a rule.
  CHECK (trigger NOT LIKE 'automation.%')
);
CREATE INDEX automation_rules_trigger ON automation_rules (organization_id, trigger)
  WHERE enabled AND deleted_at IS NULL;
CREATE INDEX automation_rules_live ON automation_rules (organization_id, created_at, id)
  WHERE deleted_at IS NULL;
SELECT enable_tenant_rls('automation_rules');

CREATE TABLE automation_runs (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  rule_id uuid NOT NULL,
  event_id text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
  event_type text NOT NULL,
  patient_id uuid,
  status text NOT NULL DEFAULT 'running'
    CHECK (status IN ('running', 'succeeded', 'failed', 'skipped')),
  reason text CHECK (reason IS NULL OR length(reason) <= 200),
  error text CHECK (error IS NULL OR length(error) <= 500),
  -- The rule's actions when the run was recorded: a retry finishes what was begun even if
  -- the rule was edited since (outcomes in `actions` are by position in this list).
  rule_actions jsonb NOT NULL CHECK (jsonb_typeof(rule_actions) = 'array'),
  actions jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(actions) = 'array'),
  attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),
  leased_until timestamptz,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, rule_id, event_id),
  FOREIGN KEY (organization_id, rule_id) REFERENCES automation_rules (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  CHECK ((status = 'running') = (finished_at IS NULL)),
  CHECK (status <> 'running' OR leased_until IS NOT NULL)
);
CREATE INDEX automation_runs_rule ON automation_runs (organization_id, rule_id, started_at, id);
-- The consumer asks, for each batch of events, which have a run still to finish.
CREATE INDEX automation_runs_running ON automation_runs (organization_id, event_id)
  WHERE status = 'running';
SELECT enable_tenant_rls('automation_runs');
-- The run log is history: the application finishes runs, never removes them; rules and
-- segments are soft-deleted for the same reason.
REVOKE DELETE, TRUNCATE ON automation_runs, automation_rules, segments FROM cadence_app;

-- The segment vocabulary's per-patient measures, as SQL functions the compiled filters call.
-- SECURITY INVOKER (the default): row-level security applies to what they read.

-- The last visit: the latest checked-in/started/completed appointment that began by `at`, or
-- completed telerehab session; NULL when there is none.
CREATE FUNCTION automation_last_visit(patient uuid, at timestamptz) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
  SELECT greatest(
    (SELECT max(a.starts_at) FROM appointments a
      WHERE a.patient_id = patient AND a.status IN ('checked_in', 'in_progress', 'completed')
        AND a.starts_at <= at),
    (SELECT max(c.completed_at) FROM session_completions c
      WHERE c.patient_id = patient AND c.status = 'completed' AND c.completed_at <= at))
$$;

-- Sessions a frequency schedules on the days [first, last]: the SQL twin of
-- storage/telerehab/_adherence.scheduled_sessions (floor(per_week * days / 7), or one per
-- listed weekday).
CREATE FUNCTION automation_scheduled_sessions(frequency jsonb, first date, last date)
RETURNS integer LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN last < first THEN 0
    WHEN frequency ? 'per_week' THEN (frequency->>'per_week')::int * (last - first + 1) / 7
    ELSE ((last - first + 1) / 7) * jsonb_array_length(frequency->'weekdays')
         + (SELECT count(*)::int FROM generate_series(0, (last - first + 1) % 7 - 1) AS o
             WHERE extract(isodow FROM first + ((last - first + 1) / 7) * 7 + o)::int IN
                   (SELECT jsonb_array_elements_text(frequency->'weekdays')::int))
  END
$$;

-- Plan adherence so far: over the patient's active assignments, completed sessions (at most
-- the scheduled count per assignment, as storage/telerehab's Adherence credits them) divided
-- by the sessions scheduled from each assignment's start to today (the organization's day) or
-- its end. NULL when nothing was scheduled yet (no active plan, or one starting today on a day
-- without a session).
CREATE FUNCTION automation_plan_adherence(patient uuid, at timestamptz) RETURNS numeric
LANGUAGE sql STABLE AS $$
  WITH today AS (
    SELECT (at AT TIME ZONE coalesce((SELECT timezone FROM organizations
                                      WHERE id = app_org_id()), 'UTC'))::date AS d
  ), per AS (
    SELECT automation_scheduled_sessions(a.frequency, a.starts_on,
                                         least(today.d, coalesce(a.ends_on, today.d))) AS due,
           (SELECT count(*) FROM session_completions c
             WHERE c.assignment_id = a.id AND c.status = 'completed'
               AND c.completed_at <= at) AS done
      FROM plan_assignments a, today
     WHERE a.patient_id = patient AND a.status = 'active' AND a.starts_on <= today.d
  )
  SELECT CASE WHEN sum(due) > 0 THEN sum(least(due, done))::numeric / sum(due) END FROM per
$$;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
