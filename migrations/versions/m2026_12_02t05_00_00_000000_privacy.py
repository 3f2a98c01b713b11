from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-02T05:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "privacy: sealed patient contacts, birth dates and notes; blind indexes, erasure"

# Sealed columns hold AES-GCM envelopes `v1:<kid>:<nonce>:<ct>` (storage/crypto.py), so they are
# text without the plaintext length checks (the API still checks lengths), and the trigram
# indexes on e-mail and phone go: they would index ciphertext. Exact search by e-mail or phone
# uses the keyed blind indexes added here. A migration has no keys, so the values already stored
# are tagged `p0:` (legacy, still plaintext) and sealed, blind indexes filled, by the data step
# `cadence migrate` runs right after migrating (and `cadence keys rotate` repeats): readers accept
# both forms in between, and a tagged value is never mistaken for an envelope.
SQL = """
DROP INDEX IF EXISTS patients_email_trgm;
DROP INDEX IF EXISTS patients_phone_trgm;
ALTER TABLE patients DROP CONSTRAINT IF EXISTS patients_email_check;
ALTER TABLE patients DROP CONSTRAINT IF EXISTS patients_phone_check;
ALTER TABLE patients ALTER COLUMN date_of_birth TYPE text
  USING (CASE WHEN date_of_birth IS NULL THEN NULL ELSE 'p0:' || date_of_birth::text END);
UPDATE patients SET email = CASE WHEN email IS NULL THEN NULL ELSE 'p0:' || email END,
                    phone = CASE WHEN phone IS NULL THEN NULL ELSE 'p0:' || phone END
  WHERE email IS NOT NULL OR phone IS NOT NULL;
ALTER TABLE patients
  ADD COLUMN email_bidx bytea,
  ADD COLUMN phone_bidx bytea,
  -- Set once by erasure (POST /v1/patients/{id}/erase); the row stays as an anonymous stub.
  ADD COLUMN erased_at timestamptz;
CREATE INDEX patients_email_bidx ON patients (organization_id, email_bidx)
  WHERE email_bidx IS NOT NULL;
CREATE INDEX patients_phone_bidx ON patients (organization_id, phone_bidx)
  WHERE phone_bidx IS NOT NULL;

ALTER TABLE cancellations DROP CONSTRAINT IF EXISTS cancellations_note_check;
UPDATE cancellations SET note = 'p0:' || note WHERE note IS NOT NULL;
ALTER TABLE session_questionnaires DROP CONSTRAINT IF EXISTS session_questionnaires_note_check;
UPDATE session_questionnaires SET note = 'p0:' || note WHERE note IS NOT NULL;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
