"""Attack: SQL that the application role runs (an injected statement, say) moves its transaction
into another clinic by setting `app.org_id` itself. The setting counts only with a seal made
with a key the application role cannot read, so every such attempt fails loudly."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY, SETTINGS_KEY
from server.seed import seed_demo
from storage.db import TenantPool, TenantSeal, create_pool, enter_tenant, with_credentials

Client = TestClient[web.Request, web.Application]


@pytest_asyncio.fixture
async def app_conn(client: Client) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the application role, as the server's pool has."""
    settings = client.app[SETTINGS_KEY]
    conn = await asyncpg.connect(
        with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    )
    yield conn
    await conn.close()


async def _patients_seen(conn: asyncpg.Connection, setting: str) -> set[uuid.UUID]:
    async with conn.transaction():
        await conn.execute("SELECT set_config('app.org_id', $1, true)", setting)
        return {r["id"] for r in await conn.fetch("SELECT id FROM patients")}


async def test_a_bare_or_forged_tenant_setting_is_refused(
    client: Client, app_conn: asyncpg.Connection
) -> None:
    db = client.app[DB_KEY]
    victim = uuid.UUID((await seed_demo(db))["organization_id"])
    forged_key = TenantSeal(b"k" * 32)
    attempts = [
        str(victim),  # the plain setting every earlier version accepted
        forged_key.setting(victim),  # sealed with a guessed key
        f"{victim}.{'0' * 64}",
        f"{victim}.",
    ]
    for setting in attempts:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await _patients_seen(app_conn, setting)


async def test_a_real_seal_of_another_organization_cannot_be_reused_for_the_victim(
    client: Client, app_conn: asyncpg.Connection
) -> None:
    db = client.app[DB_KEY]
    mine = uuid.UUID((await seed_demo(db))["organization_id"])
    victim = uuid.UUID((await seed_demo(db))["organization_id"])
    _, mac = db.seal.setting(mine).split(".")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await _patients_seen(app_conn, f"{victim}.{mac}")


async def test_the_application_role_cannot_read_the_seal_key(
    app_conn: asyncpg.Connection,
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.fetchval("SELECT key FROM tenant_seal_key")
    # Nor reach it through a function it may call with its own rights.
    definer = await app_conn.fetchval("SELECT prosecdef FROM pg_proc WHERE proname = 'app_org_id'")
    assert definer is True


async def test_a_sealed_setting_shows_its_own_clinic_only(
    client: Client, app_conn: asyncpg.Connection
) -> None:
    db = client.app[DB_KEY]
    a = uuid.UUID((await seed_demo(db))["organization_id"])
    b = uuid.UUID((await seed_demo(db))["organization_id"])
    async with db.platform() as owner:
        of_a = {r["id"] for r in await owner.fetch(
            "SELECT id FROM patients WHERE organization_id = $1", a)}  # fmt: skip
        of_b = {r["id"] for r in await owner.fetch(
            "SELECT id FROM patients WHERE organization_id = $1", b)}  # fmt: skip
    assert of_a and of_b
    async with app_conn.transaction():
        await enter_tenant(app_conn, db.seal, a)
        seen = {r["id"] for r in await app_conn.fetch("SELECT id FROM patients")}
    assert seen == of_a
    # With no setting at all, tenant tables show nothing (and raise nothing).
    async with app_conn.transaction():
        assert await app_conn.fetchval("SELECT count(*) FROM patients") == 0


async def test_every_tenant_policy_checks_the_seal_once_per_query(client: Client) -> None:
    """A SECURITY DEFINER function is never inlined: in a policy it must sit in a sub-select
    (one init plan per query) or a sequential scan would check the seal once per row."""
    async with client.app[DB_KEY].platform() as conn:
        rows = await conn.fetch(
            """SELECT tablename, policyname, coalesce(qual, '') || ' ' || coalesce(with_check, '')
                      AS text
               FROM pg_policies WHERE schemaname = 'public'"""
        )
    bare = [
        f"{r['tablename']}.{r['policyname']}"
        for r in rows
        if r["text"].replace("SELECT app_org_id()", "").count("app_org_id()")
    ]
    assert bare == []


async def test_a_pooled_connection_carries_no_clinic_to_its_next_user(client: Client) -> None:
    """The pool's reset sends nothing (storage/db.py): one connection, used by clinic A's
    transaction that commits, then by one that fails halfway, then by a caller with no clinic,
    shows that caller no rows and no open transaction."""
    settings, db = client.app[SETTINGS_KEY], client.app[DB_KEY]
    a = uuid.UUID((await seed_demo(db))["organization_id"])
    dsn = with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    tenants = TenantPool(await create_pool(dsn, min_size=1, max_size=1), db.seal)
    try:
        async with tenants.tenant(a) as conn:
            assert await conn.fetchval("SELECT count(*) FROM patients") > 0
            backend = await conn.fetchval("SELECT pg_backend_pid()")
        with pytest.raises(asyncpg.DivisionByZeroError):
            async with tenants.tenant(a) as conn:
                await conn.execute("UPDATE patients SET first_name = first_name || '!'")
                await conn.fetchval("SELECT 1 / 0")
        async with tenants.acquire() as conn:
            assert await conn.fetchval("SELECT pg_backend_pid()") == backend  # the same one
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT current_setting('app.org_id', true)") in (None, "")
            assert await conn.fetchval("SELECT count(*) FROM patients") == 0
        async with tenants.tenant(a) as conn:  # the failed update left nothing behind
            names = await conn.fetch("SELECT first_name FROM patients WHERE first_name LIKE '%!'")
            assert names == []
    finally:
        await tenants.close()
