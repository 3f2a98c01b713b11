"""PostgreSQL access: the restricted application pool, tenant transactions, and the explicit
platform path.

Every tenant query runs inside `Database.tenant(org_id)`: one transaction whose `app.org_id`
setting (transaction-local) is what the row-level security policies compare against. The
application role owns no table and has no BYPASSRLS, so a forgotten WHERE clause returns nothing
of another tenant rather than leaking it. Superadmin work is a separate, visible path:
`Database.platform()`, on a small pool that connects as the schema owner.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import orjson

QUERY_TIMEOUT_S = 10.0


def with_credentials(dsn: str, user: str, password: str) -> str:
    """`dsn` with its user and password replaced (the restricted role's DSN from the owner's)."""
    parts = urlsplit(dsn)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def with_database(dsn: str, database: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + database))


def database_name(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Binary codecs: needed by COPY (binary only) and cheaper than text. jsonb's binary form is a
    # version byte (1) followed by the JSON text.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: b"\x01" + orjson.dumps(v),
        decoder=lambda b: orjson.loads(b[1:]),
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "json", encoder=orjson.dumps, decoder=orjson.loads, schema="pg_catalog", format="binary"
    )


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=QUERY_TIMEOUT_S,
        timeout=5.0,
    )
    assert pool is not None
    return pool


class Database:
    def __init__(self, app_pool: asyncpg.Pool, platform_pool: asyncpg.Pool) -> None:
        self.app_pool = app_pool
        self._platform_pool = platform_pool

    @asynccontextmanager
    async def tenant(self, org_id: uuid.UUID) -> AsyncIterator[asyncpg.Connection]:
        """A transaction scoped to one organization (RLS context set for this transaction)."""
        async with self.app_pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org_id))
            yield conn

    @asynccontextmanager
    async def anonymous(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction with no organization: tenant tables show no rows at all."""
        async with self.app_pool.acquire() as conn, conn.transaction():
            yield conn

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[asyncpg.Connection]:
        """Superadmin and system work across organizations. Callers must be platform code paths."""
        async with self._platform_pool.acquire() as conn, conn.transaction():
            yield conn

    async def ping(self) -> None:
        async with self.app_pool.acquire(timeout=1.5) as conn:
            await conn.fetchval("SELECT 1", timeout=1.5)

    async def close(self) -> None:
        for pool in (self.app_pool, self._platform_pool):
            await pool.close()


async def fetch_json(conn: asyncpg.Connection, query: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(query, *args)]
