"""PostgreSQL access: the restricted application pool, tenant transactions, and the explicit
platform path.

Every tenant query runs inside `Database.tenant(org_id)`: one transaction whose `app.org_id`
setting (transaction-local) is what the row-level security policies compare against. The
application role owns no table and has no BYPASSRLS, so a forgotten WHERE clause returns nothing
of another tenant rather than leaking it. Superadmin work is a separate, visible path:
`Database.platform()`, on a small pool that connects as the schema owner.

The setting is sealed: `<organization id>.<HMAC-SHA256 of it>` under a key in a table only the
schema owner can read (`tenant_seal_key`), and `app_org_id()` (SECURITY DEFINER) refuses a value
whose seal does not verify. So SQL the application role runs, an injected statement included,
cannot move a transaction into another tenant; the key reaches the server through the owner's
pool and the actors through `AppDatabase`. A compromised server process holds the owner's DSN
anyway: the seal is a wall against injection, not against that.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import orjson

from storage.orm import bound

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
    # version byte (1) followed by the JSON text. A `str` is taken as JSON text already encoded:
    # that is what Piccolo passes for its JSON columns (and asyncpg's own text codec expects), so
    # a JSON string scalar is written as `orjson.dumps(s).decode()`.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: b"\x01" + _json_text(v),
        decoder=lambda b: orjson.loads(b[1:]),
        schema="pg_catalog",
        format="binary",
    )
    await conn.set_type_codec(
        "json", encoder=_json_text, decoder=orjson.loads, schema="pg_catalog", format="binary"
    )


def _json_text(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


async def _reset(conn: asyncpg.Connection) -> None:
    """What a pooled connection sheds before its next user, beyond what asyncpg always does (it
    rolls back a transaction left open and drops client-side listeners): nothing. Cadence keeps
    no session state on a connection: every setting it makes, the tenant first, is
    transaction-local (`set_config(..., true)`), and it neither LISTENs, holds cursors past a
    transaction nor takes session advisory locks. asyncpg's default reset query (RESET ALL,
    UNLISTEN *, CLOSE ALL, unlock all) would cost a round trip per transaction for nothing."""
    del conn


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 20) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_reset,
        command_timeout=QUERY_TIMEOUT_S,
        timeout=5.0,
    )
    assert pool is not None
    return pool


@dataclass(frozen=True, slots=True)
class TenantSeal:
    """Makes the `app.org_id` value that `app_org_id()` accepts for an organization."""

    key: bytes = field(repr=False)

    def setting(self, org_id: uuid.UUID) -> str:
        text = str(org_id)
        return text + "." + hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()


async def read_seal(owner: asyncpg.Connection) -> TenantSeal:
    """The seal key, read over a connection of the schema owner (the app role cannot)."""
    key = await owner.fetchval("SELECT key FROM tenant_seal_key")
    if key is None:
        raise RuntimeError("tenant_seal_key is empty: run `cadence migrate`")
    return TenantSeal(bytes(key))


async def enter_tenant(conn: asyncpg.Connection, seal: TenantSeal, org_id: uuid.UUID) -> None:
    """Scope the connection's current transaction to one organization (row-level security)."""
    await conn.execute("SELECT set_config('app.org_id', $1, true)", seal.setting(org_id))


class TenantPool:
    """A pool of the application role whose transactions are scoped to one tenant: the one
    tenant-transaction helper of the server (`Database.tenant`) and the actors alike."""

    def __init__(self, pool: asyncpg.Pool, seal: TenantSeal) -> None:
        self.pool = pool
        self.seal = seal

    def acquire(self, *, timeout: float | None = None) -> Any:
        """A connection with no tenant (tenant tables show no rows)."""
        return self.pool.acquire(timeout=timeout)

    @asynccontextmanager
    async def tenant(
        self,
        org_id: uuid.UUID,
        *,
        isolation: str | None = None,
        acquire_timeout: float | None = None,
    ) -> AsyncIterator[asyncpg.Connection]:
        """One transaction in the organization's row-level-security context."""
        async with self.pool.acquire(timeout=acquire_timeout) as conn:
            async with conn.transaction(isolation=isolation):
                await enter_tenant(conn, self.seal, org_id)
                with bound(conn):
                    yield conn

    async def close(self) -> None:
        await self.pool.close()


@dataclass(frozen=True, slots=True)
class AppDatabase:
    """What a process other than the server (an actor) needs to run tenant transactions: the
    application role's DSN and the tenant seal."""

    dsn: str = field(repr=False)
    seal: TenantSeal


class Database:
    def __init__(
        self, app_pool: asyncpg.Pool, platform_pool: asyncpg.Pool, seal: TenantSeal
    ) -> None:
        self.app = TenantPool(app_pool, seal)
        self._platform_pool = platform_pool

    @classmethod
    async def connect(
        cls, owner_dsn: str, app_dsn: str, *, app_size: int = 20, platform_size: int = 4
    ) -> Database:
        """Both pools, and the seal read through the owner's."""
        platform_pool = await create_pool(owner_dsn, min_size=1, max_size=platform_size)
        try:
            async with platform_pool.acquire() as conn:
                seal = await read_seal(conn)
            app_pool = await create_pool(app_dsn, min_size=min(2, app_size), max_size=app_size)
        except BaseException:
            await platform_pool.close()
            raise
        return cls(app_pool, platform_pool, seal)

    @property
    def seal(self) -> TenantSeal:
        return self.app.seal

    @asynccontextmanager
    async def tenant(self, org_id: uuid.UUID) -> AsyncIterator[asyncpg.Connection]:
        """A transaction scoped to one organization (RLS context set for this transaction)."""
        async with self.app.tenant(org_id) as conn:
            yield conn

    @asynccontextmanager
    async def anonymous(self) -> AsyncIterator[asyncpg.Connection]:
        """A transaction with no organization: tenant tables show no rows at all."""
        async with self.app.acquire() as conn, conn.transaction():
            with bound(conn):
                yield conn

    @asynccontextmanager
    async def platform(self) -> AsyncIterator[asyncpg.Connection]:
        """Superadmin and system work across organizations. Callers must be platform code paths."""
        async with self._platform_pool.acquire() as conn, conn.transaction():
            with bound(conn):
                yield conn

    async def ping(self) -> None:
        async with self.app.acquire(timeout=1.5) as conn:
            await conn.fetchval("SELECT 1", timeout=1.5)

    async def close(self) -> None:
        await self.app.close()
        await self._platform_pool.close()


async def fetch_json(conn: asyncpg.Connection, query: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(query, *args)]
