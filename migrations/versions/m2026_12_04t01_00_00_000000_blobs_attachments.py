from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-04T01:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "object storage and patient attachments"

# Files on a patient's record. The bytes live in object storage (storage/blobs) under their
# content key, so a row names them by `blob_key` and `sha256` and never holds them. The content
# type is what the bytes are (sniffed), never what the uploader said. The file name may identify
# the patient ("Ana Pop - MRI.pdf"): sealed at rest (storage/sealed.py), NULL once the patient is
# erased. Rows are never removed: a delete stamps `deleted_at`/`deleted_by` (and writes an audit
# row), and the application may change nothing else.
SQL = """
CREATE TABLE patient_attachments (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  blob_key text NOT NULL CHECK (blob_key ~ '^sha256/[0-9a-f]{64}$'),
  sha256 text NOT NULL,
  size bigint NOT NULL CHECK (size > 0),
  content_type text NOT NULL CHECK (content_type IN
    ('application/pdf', 'image/png', 'image/jpeg', 'image/webp', 'image/heic', 'image/heif')),
  filename text,
  uploaded_by uuid,
  uploaded_by_role text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  deleted_at timestamptz,
  deleted_by uuid,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  CHECK (blob_key = 'sha256/' || sha256)
);
CREATE INDEX patient_attachments_patient
  ON patient_attachments (organization_id, patient_id, created_at DESC, id DESC)
  WHERE deleted_at IS NULL;
SELECT enable_tenant_rls('patient_attachments');
REVOKE UPDATE, DELETE, TRUNCATE ON patient_attachments FROM cadence_app;
GRANT UPDATE (deleted_at, deleted_by) ON patient_attachments TO cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
