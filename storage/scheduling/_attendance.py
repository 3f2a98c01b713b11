"""A patient's attendance: the appointments they missed (no-shows) and cancelled (late or in
time), newest first, and the counts a front desk weighs (attended, no-shows, cancellations).
Runs inside `Database.tenant(org)`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

Row = dict[str, Any]

# Raw SQL: a UNION of two tables with a keyset over the union, which the builder cannot say.
# A no-show's time is when it was marked (its history row); a cancellation's, its record's.
_EVENTS = """
SELECT * FROM (
  SELECT c.appointment_id, CASE WHEN c.late THEN 'late_cancellation' ELSE 'cancellation' END
           AS kind,
         c.original_starts_at AS starts_at, c.specialist_id, c.created_at AS at, c.reason,
         c.cancelled_by_role AS by_role
  FROM cancellations c
  WHERE c.patient_id = $1 AND ($2::uuid IS NULL OR c.specialist_id = $2)
  UNION ALL
  SELECT a.id, 'no_show', a.starts_at, a.specialist_id, h.created_at, NULL, h.actor_role
  FROM appointments a
  CROSS JOIN LATERAL (
    SELECT created_at, actor_role FROM appointment_history
    WHERE appointment_id = a.id AND action = 'no_show'
    ORDER BY created_at DESC LIMIT 1
  ) h
  WHERE a.patient_id = $1 AND a.status = 'no_show'
    AND ($2::uuid IS NULL OR a.specialist_id = $2)
) e
WHERE $3::timestamptz IS NULL OR (e.at, e.appointment_id) < ($3, $4)
ORDER BY e.at DESC, e.appointment_id DESC
LIMIT $5
"""

_COUNTS = """
SELECT
  (SELECT count(*) FROM appointments WHERE patient_id = $1 AND status = 'completed'
     AND ($2::uuid IS NULL OR specialist_id = $2)) AS attended,
  (SELECT count(*) FROM appointments WHERE patient_id = $1 AND status = 'no_show'
     AND ($2::uuid IS NULL OR specialist_id = $2)) AS no_shows,
  (SELECT count(*) FROM cancellations WHERE patient_id = $1 AND NOT late
     AND ($2::uuid IS NULL OR specialist_id = $2)) AS cancellations,
  (SELECT count(*) FROM cancellations WHERE patient_id = $1 AND late
     AND ($2::uuid IS NULL OR specialist_id = $2)) AS late_cancellations
"""


async def patient_attendance(
    conn: asyncpg.Connection,
    patient_id: uuid.UUID,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None,
    *,
    specialist_id: uuid.UUID | None = None,
) -> tuple[Row, list[Row]]:
    """(counts, up to `limit` events before the keyset `before`); with `specialist_id`, only
    that specialist's appointments."""
    at, last = before if before is not None else (None, None)
    events = await conn.fetch(_EVENTS, patient_id, specialist_id, at, last, limit)
    counts = await conn.fetchrow(_COUNTS, patient_id, specialist_id)
    return dict(counts.items()), [dict(e.items()) for e in events]
