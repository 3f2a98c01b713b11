"""Row-level security, the second wall: raw SQL as the application role, in organization A's
context, sees none of organization B's rows in any tenant table.

Tables are enumerated from the catalog (every table with an organization_id column, partitions
included, plus organizations and users), so a table added without a policy fails here. Two demo
clinics made by every domain's seeder give each table rows of both organizations.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY, SETTINGS_KEY
from server.seed import seed_demo
from storage.db import enter_tenant, with_credentials

Client = TestClient[web.Request, web.Application]
# Tables this issue creates rows in for both organizations: each must show B's rows exist.
MUST_HAVE_ROWS = {"organizations", "memberships", "refresh_tokens", "audit_log"}


@pytest_asyncio.fixture
async def app_conn(client: Client) -> AsyncIterator[asyncpg.Connection]:
    settings = client.app[SETTINGS_KEY]
    conn = await asyncpg.connect(
        with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    )
    yield conn
    await conn.close()


async def _tenant_tables(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """SELECT c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id'
                               AND NOT a.attisdropped
           WHERE c.relkind IN ('r', 'p')
           ORDER BY 1"""
    )
    return [r["relname"] for r in rows] + ["organizations", "users"]


async def _sign_in_someone_of(client: Client, org_id: str, users: list[dict[str, Any]]) -> None:
    admin = next(u for u in users if u["role"] == "admin")
    response = await client.post(
        "/v1/auth/login",
        json={"email": admin["email"], "password": admin["password"], "organization_id": org_id},
    )
    assert response.status == 200, await response.text()


async def test_the_application_role_cannot_bypass_row_level_security(client: Client) -> None:
    async with client.app[DB_KEY].platform() as conn:
        role = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'cadence_app'"
        )
        owned = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tableowner = 'cadence_app'"
        )
    assert role is not None and not role["rolsuper"] and not role["rolbypassrls"]
    assert owned == 0


async def test_every_tenant_table_has_forced_rls_and_only_tenant_policies(client: Client) -> None:
    async with client.app[DB_KEY].platform() as conn:
        problems = []
        for table in await _tenant_tables(conn):
            flags = await conn.fetchrow(
                """SELECT relrowsecurity, relforcerowsecurity FROM pg_class
                   WHERE oid = $1::regclass""",
                table,
            )
            policies = await conn.fetch(
                """SELECT policyname, permissive, cmd, qual, with_check FROM pg_policies
                   WHERE schemaname = 'public' AND tablename = $1""",
                table,
            )
            if not (flags["relrowsecurity"] and flags["relforcerowsecurity"]):
                problems.append(f"{table}: RLS not enabled and forced")
            if not policies:
                problems.append(f"{table}: no policy")
            for p in policies:
                # Every permissive policy must tie rows to the transaction's organization.
                text = f"{p['qual'] or ''} {p['with_check'] or ''}"
                if p["permissive"] == "PERMISSIVE" and "app_org_id()" not in text:
                    problems.append(f"{table}: policy {p['policyname']} ignores app_org_id()")
    assert problems == []


async def test_organization_a_sees_zero_rows_of_organization_b(
    client: Client, app_conn: asyncpg.Connection
) -> None:
    db = client.app[DB_KEY]
    a, b = await seed_demo(db), await seed_demo(db)
    await _sign_in_someone_of(client, a["organization_id"], a["users"])
    await _sign_in_someone_of(client, b["organization_id"], b["users"])
    org_a, org_b = uuid.UUID(a["organization_id"]), uuid.UUID(b["organization_id"])

    async with db.platform() as conn:
        tables = await _tenant_tables(conn)
        b_rows = {}
        for table in tables:
            if table == "users":
                continue
            column = "id" if table == "organizations" else "organization_id"
            b_rows[table] = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" WHERE {column} = $1', org_b
            )
        members_of_a = {
            r["user_id"]
            for r in await conn.fetch(
                "SELECT user_id FROM memberships WHERE organization_id = $1", org_a
            )
        }
    missing = {t for t in MUST_HAVE_ROWS if not b_rows.get(t)}
    assert missing == set(), "the test needs rows of B in these tables"

    leaks = []
    async with app_conn.transaction():
        await enter_tenant(app_conn, db.seal, org_a)
        for table in tables:
            if table == "users":
                visible = {r["id"] for r in await app_conn.fetch("SELECT id FROM users")}
                if visible != members_of_a:
                    leaks.append(f"users: sees {len(visible - members_of_a)} non-members of A")
                continue
            # organization_id NULL marks platform-wide content (the global exercise library):
            # readable by every tenant by design, and no organization's data.
            column = "id" if table == "organizations" else "organization_id"
            foreign = await app_conn.fetchval(
                f'SELECT count(*) FROM "{table}" WHERE {column} <> $1', org_a
            )
            if foreign:
                leaks.append(f"{table}: {foreign} rows of other organizations")
    assert leaks == []

    # Without any organization context, no organization's rows are visible.
    async with app_conn.transaction():
        for table in tables:
            column = {"organizations": "id", "users": "id"}.get(table, "organization_id")
            count = await app_conn.fetchval(
                f'SELECT count(*) FROM "{table}" WHERE {column} IS NOT NULL'
            )
            assert count == 0, table
    covered = sorted(t for t, n in b_rows.items() if n)
    print(f"RLS: {len(tables)} tables; rows of B present in {covered}")


async def test_writes_cannot_target_another_organization(
    client: Client, app_conn: asyncpg.Connection
) -> None:
    db = client.app[DB_KEY]
    a, b = await seed_demo(db), await seed_demo(db)
    async with app_conn.transaction():
        await enter_tenant(app_conn, db.seal, uuid.UUID(a["organization_id"]))
        updated = await app_conn.execute(
            "UPDATE memberships SET role = 'admin' WHERE organization_id = $1",
            uuid.UUID(b["organization_id"]),
        )
        assert updated == "UPDATE 0"
        try:
            await app_conn.execute(
                "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'admin')",
                uuid.UUID(b["organization_id"]),
                uuid.UUID(a["users"][0]["user_id"]),
            )
        except asyncpg.InsufficientPrivilegeError:
            pass  # "new row violates row-level security policy"
        else:
            raise AssertionError("inserted a membership into another organization")
