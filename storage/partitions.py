"""Monthly partitions of the range-partitioned tables (`cadence partitions`, run monthly).

The tables are found in the catalog (`pg_partitioned_table`), so a table partitioned later is
covered without a change here; `ensure_monthly_partitions` (migrations) makes the missing months
and is idempotent. Catalog queries and a maintenance function: raw SQL on the schema owner's
connection."""

from __future__ import annotations

import asyncpg


async def ensure_partitions(conn: asyncpg.Connection, months: int) -> dict[str, int]:
    """Partitions made per range-partitioned table, covering `months` months ahead."""
    parents = await conn.fetch(
        """SELECT p.partrelid::regclass::text AS name
           FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
           WHERE p.partstrat = 'r' AND NOT c.relispartition
           ORDER BY 1"""
    )
    made: dict[str, int] = {}
    for row in parents:
        made[row["name"]] = await conn.fetchval(
            "SELECT ensure_monthly_partitions($1::regclass, $2)", row["name"], months
        )
    return made
