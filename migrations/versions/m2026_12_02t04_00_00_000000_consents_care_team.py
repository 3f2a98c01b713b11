from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-02T04:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "privacy: append-only consent ledger, care-team grants, patient reads in the audit"

# The consent ledger is the only source of a patient's consent: one row per decision, never
# changed or removed by the application. patients.consent_* stay as a mirror of the newest
# decision per purpose (kept by a trigger of the ledger, refused to any other writer), so the
# hot paths (telemetry ingest, session start) read one boolean. Analytics is opt-in from here on:
# the old default `true` was never a recorded consent, so it is reset.
SQL = """
UPDATE patients SET consent_analytics = false WHERE consent_analytics;
ALTER TABLE patients ALTER COLUMN consent_analytics SET DEFAULT false;

CREATE TABLE patient_consents (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  purpose text NOT NULL
    CHECK (purpose IN ('telerehab_camera', 'analytics', 'treatment', 'marketing')),
  policy_version text NOT NULL CHECK (length(policy_version) BETWEEN 1 AND 40),
  granted boolean NOT NULL,
  recorded_by uuid,
  recorded_role text,
  channel text NOT NULL
    CHECK (channel IN ('app', 'web', 'front_desk', 'paper', 'phone', 'email', 'migration')),
  ip inet,
  request_id text,
  recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id)
);
CREATE INDEX patient_consents_current
  ON patient_consents (organization_id, patient_id, purpose, recorded_at DESC, id DESC);
SELECT enable_tenant_rls('patient_consents');
-- Append-only for the application: a withdrawal is a new row, never an edit.
REVOKE UPDATE, DELETE, TRUNCATE ON patient_consents FROM cadence_app;

CREATE FUNCTION patient_consent_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.purpose = 'analytics' THEN
    UPDATE patients SET consent_analytics = NEW.granted
     WHERE organization_id = NEW.organization_id AND id = NEW.patient_id;
  ELSIF NEW.purpose = 'telerehab_camera' THEN
    UPDATE patients SET consent_telerehab = NEW.granted
     WHERE organization_id = NEW.organization_id AND id = NEW.patient_id;
  ELSIF NEW.purpose = 'marketing' THEN
    UPDATE patients SET consent_marketing = NEW.granted
     WHERE organization_id = NEW.organization_id AND id = NEW.patient_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER patient_consents_mirror AFTER INSERT ON patient_consents
  FOR EACH ROW EXECUTE FUNCTION patient_consent_mirror();

-- Only the ledger's trigger (one level down) moves the mirror; any direct write keeps it as it
-- was (a new patient starts with no consent at all).
CREATE FUNCTION patient_consent_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF pg_trigger_depth() > 1 THEN
    RETURN NEW;
  END IF;
  IF TG_OP = 'INSERT' THEN
    NEW.consent_analytics := false;
    NEW.consent_marketing := false;
    NEW.consent_telerehab := false;
  ELSE
    NEW.consent_analytics := OLD.consent_analytics;
    NEW.consent_marketing := OLD.consent_marketing;
    NEW.consent_telerehab := OLD.consent_telerehab;
  END IF;
  RETURN NEW;
END $$;

-- Telerehab and marketing consents given before the ledger existed become its first rows.
INSERT INTO patient_consents (organization_id, patient_id, purpose, policy_version, granted,
                              channel, recorded_at)
SELECT organization_id, id, 'telerehab_camera', 'legacy', true, 'migration', updated_at
  FROM patients WHERE consent_telerehab
UNION ALL
SELECT organization_id, id, 'marketing', 'legacy', true, 'migration', updated_at
  FROM patients WHERE consent_marketing;

CREATE TRIGGER patients_consent_guard BEFORE INSERT OR UPDATE ON patients
  FOR EACH ROW EXECUTE FUNCTION patient_consent_guard();

-- A specialist's access to a patient granted by an admin (without an appointment). Revoking sets
-- revoked_at; the row stays as the record of who had access when.
CREATE TABLE care_team_grants (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  patient_id uuid NOT NULL,
  specialist_id uuid NOT NULL,
  granted_by uuid,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  revoked_by uuid,
  PRIMARY KEY (organization_id, id),
  FOREIGN KEY (organization_id, patient_id) REFERENCES patients (organization_id, id),
  FOREIGN KEY (organization_id, specialist_id) REFERENCES specialists (organization_id, id)
);
CREATE UNIQUE INDEX care_team_grants_active
  ON care_team_grants (organization_id, patient_id, specialist_id) WHERE revoked_at IS NULL;
CREATE INDEX care_team_grants_patient ON care_team_grants (patient_id, created_at, id);
SELECT enable_tenant_rls('care_team_grants');
REVOKE DELETE, TRUNCATE ON care_team_grants FROM cadence_app;

-- Reads of a patient's clinical records are audited with the patient they concern, so an admin
-- can list who looked at a record (GET /v1/patients/{id}/access-log).
ALTER TABLE audit_log ADD COLUMN patient_id uuid;
CREATE INDEX audit_log_patient ON audit_log (organization_id, patient_id, created_at DESC, id DESC)
  WHERE patient_id IS NOT NULL;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
