"""The second wall under the REST checks: the dual-scope and tenant policies of the telerehab
tables, exercised directly as the restricted application role."""

from __future__ import annotations

import asyncpg
import pytest

from server.resources import DB_KEY
from tests.integration.telerehab.conftest import Client, Clinic, assign, published_plan

DUAL_SCOPE = ("exercises", "treatment_plans", "treatment_plan_versions")
TENANT = ("plan_assignments", "session_completions", "exercise_logs", "session_questionnaires")


async def test_every_telerehab_table_forces_row_level_security(client: Client) -> None:
    """Verifies REQ-EX-002, REQ-TP-008: RLS is enabled and forced with policies on each table;
    dual-scope tables read global rows but write only the organization's."""
    async with client.app[DB_KEY].platform() as conn:
        for table in DUAL_SCOPE + TENANT:
            row = await conn.fetchrow(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = $1",
                table,
            )
            assert row is not None and row["relrowsecurity"] and row["relforcerowsecurity"]
            policies = {
                r["policyname"]: r["cmd"]
                for r in await conn.fetch(
                    "SELECT policyname, cmd FROM pg_policies WHERE tablename = $1", table
                )
            }
            if table in DUAL_SCOPE:
                assert policies == {
                    "dual_scope_read": "SELECT",
                    "tenant_insert": "INSERT",
                    "tenant_update": "UPDATE",
                    "tenant_delete": "DELETE",
                }
            else:
                assert policies == {"tenant_isolation": "ALL"}


async def test_a_tenant_transaction_cannot_write_global_rows(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-EX-003: even a raw statement in an organization's transaction updates no
    global exercise and cannot insert a global one."""
    db = client.app[DB_KEY]
    squat = clinic.library["squat"]
    async with db.tenant(clinic.org_id) as conn:
        assert await conn.fetchval("SELECT name FROM exercises WHERE id = $1", squat) == "Squat"
        status = await conn.execute("UPDATE exercises SET name = 'hijacked' WHERE id = $1", squat)
        assert status == "UPDATE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with db.tenant(clinic.org_id) as conn:
            await conn.execute(
                "INSERT INTO exercises (organization_id, name, category, body_region, difficulty) "
                "VALUES (NULL, 'sneaky global', 'strength', 'knee', 'beginner')"
            )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with db.tenant(clinic.org_id) as conn:
            await conn.execute("DELETE FROM exercises WHERE id = $1", squat)


async def test_one_organization_sees_none_of_anothers_rows(
    client: Client, clinic: Clinic, other_clinic: Clinic
) -> None:
    """Verifies REQ-EX-002, REQ-TP-008: in organization B's transaction, none of A's plans,
    versions, assignments or exercises is visible; global rows are."""
    plan = await published_plan(client, clinic)
    await assign(client, clinic, plan["id"])
    await client.post(f"/v1/exercises/{clinic.library['squat']}/clone", headers=clinic.admin)
    async with client.app[DB_KEY].tenant(other_clinic.org_id) as conn:
        for table in DUAL_SCOPE + ("plan_assignments",):
            leaked = await conn.fetchval(
                f"SELECT count(*) FROM {table} WHERE organization_id = $1", clinic.org_id
            )
            assert leaked == 0, table
        assert await conn.fetchval("SELECT count(*) FROM exercises WHERE organization_id IS NULL")
