from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T02:22:00:000000"
VERSION = "1.0"
DESCRIPTION = "appointments: no-double-booking constraint, series, history, cancellations"

# Invariant 1 (ARCHITECTURE.md), with buffers: the constrained range of an appointment is its
# time PLUS its own buffers, [starts_at - buffer_before, ends_at + buffer_after). A buffer is time
# the specialist is not free (preparing the room, writing notes), so two appointments whose
# buffers overlap are as impossible as two that overlap themselves; the engine already keeps
# these gaps, and the constraint proves them even for writers that race across calendars.
# The buffers are copied from the service at booking time: editing a service later never makes
# existing rows violate the constraint. With zero buffers the range is tstzrange(starts_at,
# ends_at, '[)') exactly. `timestamptz - interval` is only STABLE in general (day and month
# arithmetic depend on the time zone); for whole minutes it is not, hence the IMMUTABLE wrapper.
SQL = """
CREATE FUNCTION appointment_span(
  starts_at timestamptz, ends_at timestamptz, before_min integer, after_min integer
) RETURNS tstzrange LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS
$$ SELECT tstzrange(starts_at - make_interval(mins => before_min),
                    ends_at + make_interval(mins => after_min), '[)') $$;

CREATE TABLE appointment_series (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  calendar_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  specialist_id uuid NOT NULL,
  occurrences integer NOT NULL CHECK (occurrences BETWEEN 1 AND 104),
  every_days integer NOT NULL CHECK (every_days BETWEEN 1 AND 365),
  first_starts_at timestamptz NOT NULL,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (organization_id, id)
);
SELECT enable_tenant_rls('appointment_series');

CREATE TABLE appointments (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  calendar_id uuid NOT NULL,
  service_id uuid NOT NULL,
  specialist_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  buffer_before_min integer NOT NULL DEFAULT 0 CHECK (buffer_before_min BETWEEN 0 AND 240),
  buffer_after_min integer NOT NULL DEFAULT 0 CHECK (buffer_after_min BETWEEN 0 AND 240),
  status text NOT NULL DEFAULT 'booked' CHECK (status IN
    ('booked', 'confirmed', 'checked_in', 'in_progress', 'completed', 'cancelled', 'no_show')),
  series_id uuid,
  series_index integer,
  -- The hold a booking came from: a retried booking of the same hold finds the first one.
  hold_id uuid UNIQUE,
  created_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (ends_at > starts_at),
  UNIQUE (organization_id, id),
  FOREIGN KEY (organization_id, calendar_id) REFERENCES calendars (organization_id, id),
  FOREIGN KEY (organization_id, service_id) REFERENCES services (organization_id, id),
  FOREIGN KEY (organization_id, specialist_id) REFERENCES specialists (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, series_id) REFERENCES appointment_series (organization_id, id),
  CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
    specialist_id WITH =,
    appointment_span(starts_at, ends_at, buffer_before_min, buffer_after_min) WITH &&
  ) WHERE (status NOT IN ('cancelled', 'no_show'))
);
CREATE INDEX appointments_org_start ON appointments (organization_id, starts_at, id);
CREATE INDEX appointments_specialist_start ON appointments (specialist_id, starts_at);
CREATE INDEX appointments_patient_start ON appointments (patient_id, starts_at);
CREATE INDEX appointments_calendar_start ON appointments (calendar_id, starts_at);
SELECT enable_tenant_rls('appointments');

-- Every status change and move of an appointment, oldest first: the appointment's history.
CREATE TABLE appointment_history (
  id bigserial PRIMARY KEY,
  organization_id uuid NOT NULL DEFAULT app_org_id(),
  appointment_id uuid NOT NULL,
  action text NOT NULL,
  from_status text,
  to_status text NOT NULL,
  from_starts_at timestamptz,
  from_ends_at timestamptz,
  from_specialist_id uuid,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  specialist_id uuid NOT NULL,
  actor_user_id uuid,
  actor_role text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id)
);
CREATE INDEX appointment_history_appointment ON appointment_history (appointment_id, id);
SELECT enable_tenant_rls('appointment_history');

CREATE TABLE cancellations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id(),
  appointment_id uuid NOT NULL UNIQUE,
  patient_id uuid NOT NULL,
  specialist_id uuid NOT NULL,
  calendar_id uuid NOT NULL,
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
  note text CHECK (note IS NULL OR length(note) <= 2000),
  cancelled_by uuid,
  cancelled_by_role text,
  original_starts_at timestamptz NOT NULL,
  original_ends_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id)
);
CREATE INDEX cancellations_patient ON cancellations (patient_id, created_at DESC, id);
SELECT enable_tenant_rls('cancellations');

-- History is kept: the application never deletes appointments or their records.
REVOKE DELETE, TRUNCATE ON appointments, appointment_history, cancellations, appointment_series
  FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
