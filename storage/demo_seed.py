"""The record of the demo clinics `cadence seed demo` made (table `demo_seed`): its result as it
may be kept (ids, logins without their passwords), so `--once` can hand the first demo back."""

from __future__ import annotations

from typing import Any

import asyncpg

from storage.orm import first
from storage.tables import DemoSeed


async def lock_demo_record(conn: asyncpg.Connection) -> None:
    """Serialize seeders until the transaction ends, so two `--once` runs make one demo.
    (A table lock: Postgres's own statement, the builder has none.)"""
    await conn.execute("LOCK TABLE demo_seed IN EXCLUSIVE MODE")


async def first_demo_record() -> dict[str, Any] | None:
    """The result of the first demo made in this database, None if there is none."""
    row = await first(DemoSeed.select(DemoSeed.result).order_by(DemoSeed.id).first())
    return None if row is None else dict(row["result"])


async def keep_demo_record(result: dict[str, Any]) -> None:
    # The id is the table's sequence (the Piccolo class declares a plain bigint key).
    await DemoSeed.insert(DemoSeed(result=result))
