from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-04T05:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "scheduling policies: cancellation reasons, late cancellation, patients' own \
changes, forced bookings, visit reasons"

# A clinic's scheduling policy is one row (absent: the defaults below, which are the behaviour
# before this migration: no late window, patients may not change appointments themselves).
# Cancellation reasons are the clinic's list (ClinicFlow's): when a clinic has active reasons, a
# cancellation names one by code; retired reasons stay for the cancellations that used them.
# A cancellation records whether it came inside the late window, judged by the calendar shard
# with the appointment locked (the start cannot move under it).
# A forced booking (an admin booking over a conflict, where the clinic allows it) carries its
# reason and is the only kind of appointment the no-overlap constraint leaves out: every other
# appointment keeps the database's proof that its specialist is not double booked.
SQL = """
CREATE TABLE scheduling_policies (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  late_cancel_window_min integer NOT NULL DEFAULT 0
    CHECK (late_cancel_window_min BETWEEN 0 AND 20160),
  patient_can_cancel boolean NOT NULL DEFAULT false,
  patient_can_reschedule boolean NOT NULL DEFAULT false,
  patient_min_notice_min integer NOT NULL DEFAULT 1440
    CHECK (patient_min_notice_min BETWEEN 0 AND 20160),
  allow_forced_booking boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id)
);
SELECT enable_tenant_rls('scheduling_policies');

CREATE TABLE cancellation_reasons (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  code text NOT NULL CHECK (code ~ '^[a-z0-9_]{1,40}$'),
  label text NOT NULL CHECK (length(label) BETWEEN 1 AND 200),
  position integer NOT NULL DEFAULT 0,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, code)
);
SELECT enable_tenant_rls('cancellation_reasons');
REVOKE DELETE, TRUNCATE ON cancellation_reasons FROM cadence_app;

ALTER TABLE cancellations ADD COLUMN late boolean NOT NULL DEFAULT false;

-- What the visit is for (the patient's words at booking) and the front desk's note: patient
-- data, sealed at rest (storage/sealed.py), beside the appointment rather than in it (the
-- calendar shard alone writes appointments; these change no availability).
CREATE TABLE appointment_details (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  appointment_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  visit_reason text,
  desk_note text,
  updated_by uuid,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, appointment_id),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id)
);
SELECT enable_tenant_rls('appointment_details');
REVOKE DELETE, TRUNCATE ON appointment_details FROM cadence_app;

ALTER TABLE appointments ADD COLUMN forced_reason text
  CHECK (forced_reason IS NULL OR length(forced_reason) BETWEEN 1 AND 500);
ALTER TABLE appointments DROP CONSTRAINT appointments_no_overlap;
ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap EXCLUDE USING gist (
  specialist_id WITH =,
  appointment_span(starts_at, ends_at, buffer_before_min, buffer_after_min) WITH &&
) WHERE (status NOT IN ('cancelled', 'no_show') AND forced_reason IS NULL);
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
