from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-04T03:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "clinical notes with their edit history, and follow-ups"

# Clinical notes (ClinicFlow doctor notes) and follow-ups.
#
# A note is its header row (`notes`: who wrote it, about which patient and appointment, who may
# read it, and its current version) and its revisions (`note_revisions`: every version of the
# body, the first one included). The body lives only in the revisions, sealed at rest
# (storage/sealed.py); the header has no free text. Revisions are append-only for the
# application role, and the header's only columns it may change are the ones an edit moves
# (column grants), so the history of what was written cannot be rewritten by the application:
# only erasure (the schema owner) blanks the bodies. Notes are never deleted: a note written in
# error is corrected by a new version, and the old one stays in the history.
# The deferred foreign key from the header's current version to its revision holds the header
# and its history together at every commit (an edit bumps the version and adds the revision in
# one transaction, in either order).
#
# A follow-up is a reminder to see the patient again by a date: pending until the front desk
# books the appointment that fulfils it (scheduled), then done or cancelled
# (storage/follow_ups/_states.py holds the transitions). Its reason is free text about the
# patient, sealed like the note bodies.
SQL = """
CREATE TABLE notes (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  appointment_id uuid,
  author_user_id uuid NOT NULL,
  author_role text NOT NULL CHECK (author_role IN ('admin', 'specialist')),
  author_specialist_id uuid,
  visibility text NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'care_team')),
  version integer NOT NULL DEFAULT 1 CHECK (version >= 1),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  -- For the revisions' foreign key: a revision's patient is its note's.
  UNIQUE (organization_id, id, patient_id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, author_specialist_id) REFERENCES specialists (organization_id, id),
  CHECK (author_specialist_id IS NULL OR author_role = 'specialist')
);
CREATE INDEX notes_patient ON notes (organization_id, patient_id, created_at, id);
CREATE INDEX notes_appointment ON notes (organization_id, appointment_id, created_at, id)
  WHERE appointment_id IS NOT NULL;
SELECT enable_tenant_rls('notes');
REVOKE UPDATE, DELETE, TRUNCATE ON notes FROM cadence_app;
GRANT UPDATE (version, visibility, updated_at) ON notes TO cadence_app;

CREATE TABLE note_revisions (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  note_id uuid NOT NULL,
  patient_id uuid NOT NULL,
  version integer NOT NULL CHECK (version >= 1),
  body text,  -- sealed; NULL once the patient is erased
  visibility text NOT NULL CHECK (visibility IN ('private', 'care_team')),
  edited_by uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, note_id, version),
  FOREIGN KEY (organization_id, note_id, patient_id)
    REFERENCES notes (organization_id, id, patient_id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id)
);
SELECT enable_tenant_rls('note_revisions');
REVOKE UPDATE, DELETE, TRUNCATE ON note_revisions FROM cadence_app;

ALTER TABLE notes ADD CONSTRAINT notes_current_revision
  FOREIGN KEY (organization_id, id, version)
  REFERENCES note_revisions (organization_id, note_id, version)
  DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE follow_ups (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  -- The appointment the follow-up came from, and the one booked to fulfil it.
  from_appointment_id uuid,
  scheduled_appointment_id uuid,
  reason text,  -- sealed; NULL once the patient is erased
  due_on date NOT NULL,
  state text NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'scheduled', 'done', 'cancelled')),
  created_by uuid,
  created_by_role text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, from_appointment_id) REFERENCES appointments (organization_id, id),
  FOREIGN KEY (organization_id, scheduled_appointment_id)
    REFERENCES appointments (organization_id, id),
  CHECK (state <> 'scheduled' OR scheduled_appointment_id IS NOT NULL)
);
-- The front desk's queue (state, due date) and a patient's follow-ups.
CREATE INDEX follow_ups_queue ON follow_ups (organization_id, state, due_on, id);
CREATE INDEX follow_ups_patient ON follow_ups (organization_id, patient_id, due_on, id);
SELECT enable_tenant_rls('follow_ups');
REVOKE DELETE, TRUNCATE ON follow_ups FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
