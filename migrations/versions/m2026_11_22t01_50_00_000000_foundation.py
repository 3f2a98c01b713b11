from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T01:50:00:000000"
VERSION = "1.0"
DESCRIPTION = "foundation: extensions, application role privileges, tenant context function"

SQL = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
GRANT USAGE ON SCHEMA public TO cadence_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO cadence_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO cadence_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO cadence_app;

-- The organization of the current transaction, as set by storage.db.Database.tenant();
-- NULL when unset, which matches no row in any policy.
CREATE OR REPLACE FUNCTION app_org_id() RETURNS uuid
  LANGUAGE sql STABLE AS
  $$ SELECT NULLIF(current_setting('app.org_id', true), '')::uuid $$;

-- unaccent() is STABLE; an IMMUTABLE wrapper lets trigram indexes use it.
CREATE OR REPLACE FUNCTION f_unaccent(text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS
  $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
