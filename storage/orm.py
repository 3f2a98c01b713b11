"""Piccolo's engine for Cadence: queries run on the transaction the task is in.

The tables in `storage.tables` are bound to `ENGINE`. It has no pool and opens no connection of
its own: `TenantPool.tenant`, `Database.anonymous` and `Database.platform` bind their transaction's
connection with `bound(conn)`, and every Piccolo query awaited inside runs on that connection.
So a Piccolo query gets the same row-level-security context, the same codecs (binary jsonb) and
the same transaction as the raw SQL beside it, and a query awaited outside a transaction fails
loudly instead of reaching the database unscoped. This is Piccolo's own design (its transactions
live in a context variable), with the transaction owned by our pools instead of the engine.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString

_CONNECTION: contextvars.ContextVar[asyncpg.Connection | None] = contextvars.ContextVar(
    "cadence_orm_connection", default=None
)


class NoTransaction(RuntimeError):
    """A Piccolo query was awaited outside `Database.tenant/anonymous/platform`."""


@contextmanager
def bound(conn: asyncpg.Connection) -> Iterator[asyncpg.Connection]:
    """Run the Piccolo queries of this block (this task) on `conn`."""
    token = _CONNECTION.set(conn)
    try:
        yield conn
    finally:
        _CONNECTION.reset(token)


def _connection() -> asyncpg.Connection:
    conn = _CONNECTION.get()
    if conn is None:
        raise NoTransaction(
            "a Piccolo query ran outside a transaction: use Database.tenant(org) "
            "(or TenantPool.tenant, Database.platform)"
        )
    return conn


class TransactionEngine(PostgresEngine):
    """A PostgresEngine that never connects by itself (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__(config={})

    async def check_version(self) -> None:  # the engine is built at import time: no connection
        return None

    async def prep_database(self) -> None:  # extensions are the migrations' business
        return None

    async def get_version(self) -> float:
        return 16.0

    async def run_querystring(self, querystring: QueryString, in_pool: bool = True) -> Any:
        query, args = querystring.compile_string(engine_type=self.engine_type)
        return await _connection().fetch(query, *args)

    async def run_ddl(self, ddl: str, in_pool: bool = True) -> Any:
        raise NoTransaction("the schema belongs to the migrations")

    def transaction(self, allow_nested: bool = True) -> Any:
        raise NoTransaction("transactions belong to storage.db (Database.tenant and friends)")

    def atomic(self) -> Any:
        raise NoTransaction("transactions belong to storage.db (Database.tenant and friends)")


ENGINE = TransactionEngine()


async def rows(query: Any) -> list[dict[str, Any]]:
    """A Piccolo query's rows as dicts (typed for callers: Piccolo's own result type is loose)."""
    result: Sequence[dict[str, Any]] = await query
    return list(result)


async def first(query: Any) -> dict[str, Any] | None:
    """The first row of a Piccolo query (`.first()` applied by the caller), or None."""
    result: dict[str, Any] | None = await query
    return result
