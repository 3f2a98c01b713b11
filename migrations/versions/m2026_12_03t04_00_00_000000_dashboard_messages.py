from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-03T04:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "front desk dashboard and patient messages"

# Messages between a clinic and a patient: threads per patient, their messages, and per reader
# the newest message read (the read receipt). Subjects and bodies are free text about a patient:
# sealed at rest like the other clinical free text (storage/sealed.py), so they are `text` holding
# the sealed value; NULL once the patient is erased (storage/privacy.py SCRUB). History is kept:
# the application never deletes messages.
# The front-desk dashboard needs no table (its state is a projection in Redis): only an index for
# its "failed notifications today" read of the outbox, per clinic and across clinics (the pump).
SQL = """
CREATE INDEX dashboard_failed_notifications ON notification_outbox (organization_id, finished_at)
  WHERE status = 'failed';
CREATE INDEX dashboard_failed_notifications_at ON notification_outbox (finished_at)
  WHERE status = 'failed';

CREATE TABLE message_threads (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  subject text,
  state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
  created_by uuid,
  created_by_role text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_message_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id)
);
CREATE INDEX message_threads_patient
  ON message_threads (organization_id, patient_id, last_message_at DESC, id DESC);
SELECT enable_tenant_rls('message_threads');

CREATE TABLE messages (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  thread_id uuid NOT NULL,
  -- The thread's patient, repeated: a table with patient_id is in the patient's export and
  -- erasure (storage/privacy.py finds them by that column).
  patient_id uuid NOT NULL,
  author_user_id uuid,
  author_role text NOT NULL,
  body text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, thread_id) REFERENCES message_threads (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id)
);
CREATE INDEX messages_thread ON messages (organization_id, thread_id, created_at, id);
SELECT enable_tenant_rls('messages');
REVOKE DELETE, TRUNCATE ON messages FROM cadence_app;

CREATE TABLE message_reads (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  thread_id uuid NOT NULL,
  user_id uuid NOT NULL,
  last_read_message_id uuid NOT NULL,
  last_read_at timestamptz NOT NULL,
  PRIMARY KEY (organization_id, thread_id, user_id),
  FOREIGN KEY (organization_id, thread_id) REFERENCES message_threads (organization_id, id)
);
SELECT enable_tenant_rls('message_reads');
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
