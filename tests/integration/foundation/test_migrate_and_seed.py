from __future__ import annotations

import asyncpg

from migrations.runner import migrate
from server.seed import seed_demo, without_passwords
from server.settings import Settings
from storage.db import Database, with_credentials
from tests.support.services import app_password


async def test_migrate_is_idempotent_and_enables_the_extensions(database_url: str) -> None:
    await migrate(database_url, app_password())
    conn = await asyncpg.connect(database_url)
    try:
        names = {r["extname"] for r in await conn.fetch("SELECT extname FROM pg_extension")}
        assert {"btree_gist", "pg_trgm"} <= names
        count = await conn.fetchval("SELECT count(*) FROM migration")
        ids = await conn.fetchval("SELECT count(DISTINCT name) FROM migration")
        assert count == ids  # nothing applied twice
    finally:
        await conn.close()


async def test_app_role_cannot_bypass_row_level_security(database_url: str) -> None:
    conn = await asyncpg.connect(with_credentials(database_url, "cadence_app", app_password()))
    try:
        row = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        assert row is not None and not row["rolsuper"] and not row["rolbypassrls"]
    finally:
        await conn.close()


async def test_seed_once_returns_the_first_demo_and_plain_seed_makes_another(
    settings: Settings,
) -> None:
    db = await Database.connect(
        settings.database_url,
        with_credentials(settings.database_url, "cadence_app", settings.app_db_password),
        platform_size=2,
    )
    try:
        first = await seed_demo(db, once=True)
        again = await seed_demo(db, once=True)
        if first.get("existing"):  # another test of this run seeded first
            assert again == first
        else:  # the same demo, without the passwords shown only when it was made
            assert again == {**without_passwords(first), "existing": True}
            assert all(u["password"] for u in first["users"])
        assert not any("password" in u for u in again["users"])
        other = await seed_demo(db)
        if first.get("organization_id"):
            assert other["organization_id"] != first["organization_id"]
    finally:
        await db.close()


async def test_one_process_can_migrate_several_databases(database_url: str) -> None:
    from storage.db import with_database

    scratch = with_database(database_url, database_url.rsplit("/", 1)[1] + "_second")
    await migrate(scratch, app_password())
    conn = await asyncpg.connect(scratch)
    try:
        assert await conn.fetchval("SELECT to_regclass('organizations') IS NOT NULL")
    finally:
        await conn.close()
        admin = await asyncpg.connect(with_database(database_url, "postgres"))
        await admin.execute(f'DROP DATABASE "{scratch.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()
