from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from migrations.sql import run_sql

ID = "2026-12-06T05:00:00:000000"
VERSION = "1.0"
DESCRIPTION = "telerehab access by service plan"

# A clinic that sells telerehab as part of its service plans (RestartiX's `telerehab_access`
# grant) turns this on: a guided session then starts only for a patient holding an active plan,
# valid at that moment, whose `grants_telerehab` is set. Off by default, so clinics that do not
# sell plans keep offering telerehab as before. The check reads the plan at each session start
# (not at assignment), so a plan that expires or is cancelled ends the access with it.
SQL = """
ALTER TABLE organizations ADD COLUMN telerehab_requires_plan boolean NOT NULL DEFAULT false;
CREATE INDEX patient_plans_telerehab ON patient_plans (organization_id, patient_id, valid_until)
  WHERE grants_telerehab AND status = 'active';
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="cadence", description=DESCRIPTION)

    async def run() -> None:
        await run_sql(SQL)

    manager.add_raw(run)
    return manager
