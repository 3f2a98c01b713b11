from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-06T04:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "virtual visits"

# A virtual appointment is one whose service has `modality = 'virtual'` (services already carry
# it); its video room needs no row of its own: the room is the appointment. What is recorded is
# who was in it and when: one attendance per join of the patient or the specialist, closed when
# they leave, their connection closes, or they join again from another device (one open
# attendance per role, enforced below).
# The visit's duration is the time both were in the room together, computed from these rows
# (storage/visits). Attendances carry no text about the patient; they are kept as the visit's
# record (the application may insert and close them, never delete them).
SQL = """
CREATE TABLE visit_attendances (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  appointment_id uuid NOT NULL,
  role text NOT NULL CHECK (role IN ('patient', 'specialist')),
  user_id uuid,
  joined_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  left_at timestamptz,
  left_reason text CHECK (left_reason IN ('left', 'rejoined', 'disconnected')),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  CHECK (left_at IS NULL OR left_at >= joined_at),
  CHECK ((left_at IS NULL) = (left_reason IS NULL))
);
CREATE INDEX visit_attendances_appointment
  ON visit_attendances (organization_id, appointment_id, joined_at);
CREATE UNIQUE INDEX visit_attendances_one_open
  ON visit_attendances (organization_id, appointment_id, role) WHERE left_at IS NULL;
SELECT enable_tenant_rls('visit_attendances');
REVOKE UPDATE, DELETE, TRUNCATE ON visit_attendances FROM cadence_app;
GRANT UPDATE (left_at, left_reason) ON visit_attendances TO cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
