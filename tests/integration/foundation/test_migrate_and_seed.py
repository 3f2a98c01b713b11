from __future__ import annotations

import asyncpg

from migrations.runner import migrate
from server.seed import seed_demo
from server.settings import Settings
from storage.db import Database, create_pool, with_credentials


async def test_migrate_is_idempotent_and_enables_the_extensions(database_url: str) -> None:
    await migrate(database_url, "cadence_app")
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
    conn = await asyncpg.connect(with_credentials(database_url, "cadence_app", "cadence_app"))
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
    db = Database(
        await create_pool(with_credentials(settings.database_url, "cadence_app", "cadence_app")),
        await create_pool(settings.database_url, min_size=1, max_size=2),
    )
    try:
        first = await seed_demo(db, once=True)
        again = await seed_demo(db, once=True)
        assert again == first
        other = await seed_demo(db)
        if first.get("organization_id"):
            assert other["organization_id"] != first["organization_id"]
    finally:
        await db.close()


async def test_one_process_can_migrate_several_databases(database_url: str) -> None:
    from storage.db import with_database

    scratch = with_database(database_url, database_url.rsplit("/", 1)[1] + "_second")
    await migrate(scratch, "cadence_app")
    conn = await asyncpg.connect(scratch)
    try:
        assert await conn.fetchval("SELECT to_regclass('organizations') IS NOT NULL")
    finally:
        await conn.close()
        admin = await asyncpg.connect(with_database(database_url, "postgres"))
        await admin.execute(f'DROP DATABASE "{scratch.rsplit("/", 1)[1]}" WITH (FORCE)')
        await admin.close()
