from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-11-22T01:51:00:000000"
VERSION = "1.0"
DESCRIPTION = "record of demo seeds, so `cadence seed demo --once` seeds a database only once"

SQL = """
CREATE TABLE demo_seed (
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  result jsonb NOT NULL
);
REVOKE ALL ON demo_seed FROM cadence_app;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
