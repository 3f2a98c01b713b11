from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-04T04:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "rendered documents and the clinic's letterhead"

# Rendered PDFs (pipelines/documents, actors/documents): one row per (kind, subject, digest of
# everything the document prints), naming the PDF in object storage by its content key. A repeat
# request with unchanged inputs finds its row and renders nothing; changed inputs (an edited
# note, a new template version) give a new row, and the old ones stay as what was handed out.
# `subject_id` is the session completion, appointment, plan version or form instance.
# Rows about a patient carry `patient_id` (export and erasure find them); a handout of a plan
# that is not a patient's own has none. The rows hold no free text: the PDF's content lives in
# object storage only. Append-only for the application.
#
# The letterhead: one row per clinic, the name (else the organization's) and, if set, address,
# phone and footer text printed on every document. Not about any patient.
SQL = """
CREATE TABLE documents (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  kind text NOT NULL CHECK (kind IN
    ('session_report', 'appointment_summary', 'handout', 'signed_form')),
  subject_id uuid NOT NULL,
  inputs_hash text NOT NULL CHECK (inputs_hash ~ '^[0-9a-f]{64}$'),
  patient_id uuid,
  template_version text NOT NULL,
  blob_key text NOT NULL CHECK (blob_key ~ '^sha256/[0-9a-f]{64}$'),
  sha256 text NOT NULL,
  size integer NOT NULL CHECK (size > 0),
  rendered_at timestamptz NOT NULL DEFAULT now(),
  rendered_by uuid,
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, kind, subject_id, inputs_hash),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  CHECK (blob_key = 'sha256/' || sha256)
);
CREATE INDEX documents_patient ON documents (organization_id, patient_id, rendered_at)
  WHERE patient_id IS NOT NULL;
SELECT enable_tenant_rls('documents');
REVOKE UPDATE, DELETE, TRUNCATE ON documents FROM cadence_app;

CREATE TABLE document_letterheads (
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  clinic_name text CHECK (length(clinic_name) BETWEEN 1 AND 200),
  address text CHECK (length(address) <= 500),
  phone text CHECK (length(phone) <= 50),
  footer text CHECK (length(footer) <= 300),
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by uuid,
  PRIMARY KEY (organization_id)
);
SELECT enable_tenant_rls('document_letterheads');
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
