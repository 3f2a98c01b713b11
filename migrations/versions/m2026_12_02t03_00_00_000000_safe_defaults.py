from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-02T03:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "demo logins made before random demo passwords: forget and lock them"

SQL = """
-- Demo seeds made before this migration gave every login a password that followed from its
-- e-mail (and one login was a platform superadmin), and kept the passwords in clear in
-- demo_seed. Forget the stored passwords and the superadmin entry, end those logins' sessions
-- and lock them: `cadence seed demo --reset-password EMAIL` gives one a random password.
UPDATE demo_seed SET result = jsonb_set(result, '{users}', COALESCE((
    SELECT jsonb_agg(u - 'password') FROM jsonb_array_elements(result->'users') u
    WHERE u->>'role' IS DISTINCT FROM 'superadmin'), '[]'::jsonb))
WHERE jsonb_typeof(result->'users') = 'array';

UPDATE refresh_tokens SET revoked_at = now()
WHERE revoked_at IS NULL
  AND user_id IN (SELECT id FROM users WHERE lower(email) LIKE '%@demo.cadence.test');

-- NULL: cannot log in with a password (identity migration).
UPDATE users SET password_hash = NULL, is_superadmin = false, updated_at = now()
WHERE lower(email) LIKE '%@demo.cadence.test';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
