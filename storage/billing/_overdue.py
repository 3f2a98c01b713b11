"""The overdue sweep: issued or partly paid invoices whose due date has passed become overdue,
across every clinic, in bounded batches that two sweepers never share (SKIP LOCKED)."""

from __future__ import annotations

from datetime import date

import asyncpg

# Raw SQL: a platform-wide CTE update with FOR UPDATE SKIP LOCKED, which Piccolo cannot express.
# The status guard is repeated in the UPDATE: a payment that settled the invoice between the
# claim and the write (it locks the row too) leaves it alone.
_SWEEP = """
WITH due AS (
  SELECT organization_id, id FROM invoices
  WHERE status IN ('issued', 'partially_paid') AND due_on < $1
  ORDER BY due_on, id
  LIMIT $2
  FOR UPDATE SKIP LOCKED
)
UPDATE invoices i SET status = 'overdue', updated_at = clock_timestamp()
FROM due
WHERE i.organization_id = due.organization_id AND i.id = due.id
  AND i.status IN ('issued', 'partially_paid')
RETURNING i.id
"""

_DUE_COUNT = """
SELECT count(*) FROM invoices WHERE status IN ('issued', 'partially_paid') AND due_on < $1
"""


async def sweep_overdue(conn: asyncpg.Connection, today: date, batch: int) -> int:
    """Mark up to `batch` invoices past their due date (before `today`) overdue; how many."""
    return len(await conn.fetch(_SWEEP, today, batch))


async def overdue_pending(conn: asyncpg.Connection, today: date) -> int:
    """Invoices past their due date and not yet marked (the sweep's backlog)."""
    return int(await conn.fetchval(_DUE_COUNT, today))
