"""The overdue sweep: issued or partly paid invoices whose due date has passed in their clinic's
own zone become overdue, across every clinic, in bounded batches that two sweepers never share
(SKIP LOCKED)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# Raw SQL: a platform-wide CTE update with FOR UPDATE SKIP LOCKED, which Piccolo cannot express.
# The status guard is repeated in the UPDATE: a payment that settled the invoice between the
# claim and the write (it locks the row too) leaves it alone.
_SWEEP = """
WITH due AS (
  SELECT i.organization_id, i.id FROM invoices i JOIN organizations o ON o.id = i.organization_id
  WHERE i.status IN ('issued', 'partially_paid') AND i.due_on < ($1 AT TIME ZONE o.timezone)::date
  ORDER BY i.due_on, i.id
  LIMIT $2
  FOR UPDATE OF i SKIP LOCKED
)
UPDATE invoices i SET status = 'overdue', updated_at = clock_timestamp()
FROM due
WHERE i.organization_id = due.organization_id AND i.id = due.id
  AND i.status IN ('issued', 'partially_paid')
RETURNING i.id
"""

_DUE_COUNT = """
SELECT count(*) FROM invoices i JOIN organizations o ON o.id = i.organization_id
WHERE i.status IN ('issued', 'partially_paid') AND i.due_on < ($1 AT TIME ZONE o.timezone)::date
"""


async def sweep_overdue(conn: asyncpg.Connection, now: datetime, batch: int) -> int:
    """Mark up to `batch` invoices whose due date is before their clinic's date at `now`
    overdue; how many."""
    return len(await conn.fetch(_SWEEP, now, batch))


async def overdue_pending(conn: asyncpg.Connection, now: datetime) -> int:
    """Invoices past their due date and not yet marked (the sweep's backlog)."""
    return int(await conn.fetchval(_DUE_COUNT, now))
