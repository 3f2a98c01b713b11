from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-03T01:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "events out: dead letters of the stream consumers"

# An event a consumer group gave up on (storage/dead_letters.py). The consumers write it on the
# platform path; clinic staff may read their organization's rows.
SQL = """
CREATE TABLE event_dead_letters (
  id uuid NOT NULL DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL DEFAULT app_org_id() REFERENCES organizations(id),
  group_name text NOT NULL CHECK (length(group_name) BETWEEN 1 AND 64),
  event_id text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
  event_type text NOT NULL,
  payload jsonb NOT NULL,
  error text NOT NULL,
  attempts integer NOT NULL CHECK (attempts >= 0),
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (organization_id, id),
  UNIQUE (organization_id, group_name, event_id)
);
SELECT enable_tenant_rls('event_dead_letters');
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
