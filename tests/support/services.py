"""Test-run resources: a fresh database per run, a Redis prefix per run, Ray once per session."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
import redis

from migrations.runner import migrate
from server.settings import DEV_APP_PASSWORD
from storage.db import with_database


def app_password() -> str:
    """The restricted role's password: .data/services.env's generated one under `make test`."""
    return os.environ.get("CADENCE_DB_APP_PASSWORD") or DEV_APP_PASSWORD


def base_urls() -> tuple[str, str]:
    db = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    rd = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    return db, rd


@contextmanager
def fresh_database() -> Iterator[str]:
    base, _ = base_urls()
    name = f"cadence_test_{secrets.token_hex(4)}"
    dsn = with_database(base, name)
    # The role is cluster-wide and shared by concurrent runs: its password is set only when the
    # run was given one (every run of one checkout gets the same value from .data/).
    asyncio.run(migrate(dsn, app_password(), set_password="CADENCE_DB_APP_PASSWORD" in os.environ))
    try:
        yield dsn
    finally:
        asyncio.run(_drop(base, name))


async def _drop(base: str, name: str) -> None:
    conn = await asyncpg.connect(with_database(base, "postgres"))
    try:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


@contextmanager
def redis_prefix() -> Iterator[str]:
    _, url = base_urls()
    prefix = f"cadence-test-{secrets.token_hex(4)}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(url)
        try:
            batch = []
            for key in client.scan_iter(match=f"{prefix}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.delete(*batch)
                    batch.clear()
            if batch:
                client.delete(*batch)
        finally:
            client.close()
