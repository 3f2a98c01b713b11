from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-02T01:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "tenancy: composite keys to patients and specialists, organization in every key"

# Foreign-key checks bypass row-level security, so a link to a patient or a specialist stopped
# at a tenant's edge only when it is the composite (organization_id, id): a bare id accepted
# another clinic's row (issue 15: a membership linked to a patient of another organization).
# Unique keys of tenant data carry organization_id for the same reason the other way round:
# a key on a client-chosen value alone (telemetry's event id and time) let one clinic's row
# take the place of, or suppress, another's. tests/security/test_tenant_keys.py keeps it so.
SQL = """
-- A membership linked to another organization's patient or specialist was never legitimate:
-- such links are cut before the keys are added (the membership itself stays). FORCE'd
-- row-level security would hide every row from the owner here, so it is lifted for the
-- length of this transaction only.
ALTER TABLE memberships NO FORCE ROW LEVEL SECURITY;
ALTER TABLE patients NO FORCE ROW LEVEL SECURITY;
ALTER TABLE specialists NO FORCE ROW LEVEL SECURITY;
UPDATE memberships m SET patient_id = NULL
 WHERE patient_id IS NOT NULL AND NOT EXISTS (
   SELECT 1 FROM patients p WHERE p.organization_id = m.organization_id AND p.id = m.patient_id);
UPDATE memberships m SET specialist_id = NULL
 WHERE specialist_id IS NOT NULL AND NOT EXISTS (
   SELECT 1 FROM specialists s
    WHERE s.organization_id = m.organization_id AND s.id = m.specialist_id);
ALTER TABLE memberships FORCE ROW LEVEL SECURITY;
ALTER TABLE patients FORCE ROW LEVEL SECURITY;
ALTER TABLE specialists FORCE ROW LEVEL SECURITY;

ALTER TABLE memberships
  ADD CONSTRAINT memberships_patient_fkey FOREIGN KEY (organization_id, patient_id)
    REFERENCES patients (organization_id, id),
  ADD CONSTRAINT memberships_specialist_fkey FOREIGN KEY (organization_id, specialist_id)
    REFERENCES specialists (organization_id, id);
CREATE INDEX memberships_patient ON memberships (organization_id, patient_id)
  WHERE patient_id IS NOT NULL;
CREATE INDEX memberships_specialist ON memberships (organization_id, specialist_id)
  WHERE specialist_id IS NOT NULL;

-- The other links that named a patient, specialist or calendar by its id alone.
ALTER TABLE appointment_series
  ADD CONSTRAINT appointment_series_calendar_fkey FOREIGN KEY (organization_id, calendar_id)
    REFERENCES calendars (organization_id, id),
  ADD CONSTRAINT appointment_series_patient_fkey FOREIGN KEY (organization_id, patient_id)
    REFERENCES patients (organization_id, id),
  ADD CONSTRAINT appointment_series_specialist_fkey FOREIGN KEY (organization_id, specialist_id)
    REFERENCES specialists (organization_id, id);
ALTER TABLE cancellations
  ADD CONSTRAINT cancellations_specialist_fkey FOREIGN KEY (organization_id, specialist_id)
    REFERENCES specialists (organization_id, id),
  ADD CONSTRAINT cancellations_calendar_fkey FOREIGN KEY (organization_id, calendar_id)
    REFERENCES calendars (organization_id, id);
ALTER TABLE appointment_history
  ADD CONSTRAINT appointment_history_specialist_fkey FOREIGN KEY (organization_id, specialist_id)
    REFERENCES specialists (organization_id, id),
  ADD CONSTRAINT appointment_history_from_specialist_fkey
    FOREIGN KEY (organization_id, from_specialist_id) REFERENCES specialists (organization_id, id);
ALTER TABLE exercise_logs
  ADD CONSTRAINT exercise_logs_patient_fkey FOREIGN KEY (organization_id, patient_id)
    REFERENCES patients (organization_id, id);
ALTER TABLE session_questionnaires
  ADD CONSTRAINT session_questionnaires_patient_fkey FOREIGN KEY (organization_id, patient_id)
    REFERENCES patients (organization_id, id);

-- Telemetry: the event id and time are the client's; two clinics may send the same pair.
ALTER TABLE telemetry_events DROP CONSTRAINT telemetry_events_pkey;
ALTER TABLE telemetry_events
  ADD CONSTRAINT telemetry_events_pkey PRIMARY KEY (organization_id, event_id, t);

-- Every other unique key of tenant data, with its organization (the lookups these keys serve
-- run under row-level security, whose organization_id = app_org_id() leads the new indexes).
ALTER TABLE appointments DROP CONSTRAINT appointments_hold_id_key;
ALTER TABLE appointments
  ADD CONSTRAINT appointments_hold_id_key UNIQUE (organization_id, hold_id);
ALTER TABLE appointment_history DROP CONSTRAINT appointment_history_pkey;
ALTER TABLE appointment_history
  ADD CONSTRAINT appointment_history_pkey PRIMARY KEY (organization_id, id);
ALTER TABLE cancellations DROP CONSTRAINT cancellations_appointment_id_key;
ALTER TABLE cancellations
  ADD CONSTRAINT cancellations_appointment_id_key UNIQUE (organization_id, appointment_id);
ALTER TABLE calendar_specialists DROP CONSTRAINT calendar_specialists_pkey;
ALTER TABLE calendar_specialists
  ADD CONSTRAINT calendar_specialists_pkey
    PRIMARY KEY (organization_id, calendar_id, specialist_id);
ALTER TABLE specialist_specialties DROP CONSTRAINT specialist_specialties_pkey;
ALTER TABLE specialist_specialties
  ADD CONSTRAINT specialist_specialties_pkey
    PRIMARY KEY (organization_id, specialist_id, specialty_id);
ALTER TABLE specialist_overrides DROP CONSTRAINT specialist_overrides_specialist_id_date_key;
ALTER TABLE specialist_overrides
  ADD CONSTRAINT specialist_overrides_specialist_id_date_key
    UNIQUE (organization_id, specialist_id, date);
ALTER TABLE session_completions DROP CONSTRAINT session_completions_telerehab_session_id_key;
ALTER TABLE session_completions
  ADD CONSTRAINT session_completions_telerehab_session_id_key
    UNIQUE (organization_id, telerehab_session_id);
ALTER TABLE session_questionnaires DROP CONSTRAINT session_questionnaires_pkey;
ALTER TABLE session_questionnaires
  ADD CONSTRAINT session_questionnaires_pkey PRIMARY KEY (organization_id, completion_id);
ALTER TABLE exercise_logs DROP CONSTRAINT exercise_logs_completion_id_position_key;
ALTER TABLE exercise_logs
  ADD CONSTRAINT exercise_logs_completion_id_position_key
    UNIQUE (organization_id, completion_id, position);
-- Dual scope: global rows have no organization, and NULLS NOT DISTINCT keeps them unique too.
ALTER TABLE treatment_plan_versions DROP CONSTRAINT treatment_plan_versions_plan_id_version_key;
ALTER TABLE treatment_plan_versions
  ADD CONSTRAINT treatment_plan_versions_plan_id_version_key
    UNIQUE NULLS NOT DISTINCT (organization_id, plan_id, version);
DROP INDEX treatment_plan_versions_one_draft;
CREATE UNIQUE INDEX treatment_plan_versions_one_draft
  ON treatment_plan_versions (organization_id, plan_id) NULLS NOT DISTINCT
  WHERE status = 'draft';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
