"""`cadence migrate`: create the database and restricted role if needed, then apply migrations."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import os

import asyncpg

from migrations.sql import APP_ROLE
from storage.db import database_name, with_database


async def ensure_database(dsn: str) -> None:
    name = database_name(dsn)
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(with_database(dsn, "postgres"), timeout=10)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            pass
        finally:
            await admin.close()
    else:
        await conn.close()


async def ensure_app_role(dsn: str, password: str, *, set_password: bool = False) -> bool:
    """The application role: may log in, owns nothing, cannot bypass row-level security.

    Its password is set when the role is created, and later only when `set_password` asks for
    it (`cadence migrate --set-app-password`): re-running migrations must not undo a password
    an operator chose. Returns whether the password was set."""
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        # Roles are cluster-wide; concurrent test runs may race here, hence the advisory lock.
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(7272727)")
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", APP_ROLE)
            if not exists:
                await conn.execute(
                    f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
                )
            if set_password or not exists:
                await conn.execute(f"ALTER ROLE {APP_ROLE} PASSWORD {_literal(password)}")
                return True
            return False
    finally:
        await conn.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def migrate(dsn: str, app_password: str, *, set_password: bool = False) -> list[str]:
    """Apply every pending migration; returns the ids applied."""
    await ensure_database(dsn)
    await ensure_app_role(dsn, app_password, set_password=set_password)
    os.environ["CADENCE_MIGRATION_DSN"] = dsn
    os.environ["PICCOLO_CONF"] = "migrations.piccolo_conf"
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.apps.migrations.tables import Migration

    from migrations import piccolo_conf

    # Piccolo binds its engine (and its record of applied migrations) to the first database it
    # sees in a process; point both at this one, so one process can migrate several databases.
    importlib.reload(piccolo_conf)
    Migration._meta.refresh_db()

    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        # One migrator at a time per database (two servers starting together, parallel tests).
        await conn.execute("SELECT pg_advisory_lock(7272728)")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):  # Piccolo prints progress; keep stdout for JSON
            result = await run_forwards(app_name="cadence", migration_id="all")
        if not result.success:
            raise RuntimeError(f"migration failed: {result.message}")
    finally:
        await conn.close()
    return [line for line in out.getvalue().splitlines() if "ran" in line.lower()]


def migrate_sync(dsn: str, app_password: str, *, set_password: bool = False) -> list[str]:
    return asyncio.run(migrate(dsn, app_password, set_password=set_password))
