"""Telemetry writes (COPY into a staging table, then one deduplicating insert that also rolls the
daily aggregates forward) and the reads answered from those aggregates."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any

import asyncpg

COLUMNS = (
    "organization_id",
    "patient_id",
    "session_id",
    "exercise_id",
    "event_id",
    "type",
    "t",
    "received_at",
    "data",
)
Record = tuple[Any, ...]  # in COLUMNS order

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_staging
  (LIKE telemetry_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""

# Only rows that were really inserted (not resends) reach the rollups, so aggregates count each
# event exactly once however often a client resends it.
_MERGE = """
WITH ins AS (
  INSERT INTO telemetry_events SELECT * FROM telemetry_staging ON CONFLICT DO NOTHING
  RETURNING organization_id, patient_id, exercise_id, type, t, data
), rom AS (
  INSERT INTO telemetry_rom_daily AS r
    (organization_id, patient_id, exercise_id, day, reps, rom_sum, rom_min, rom_max)
  SELECT organization_id, patient_id, exercise_id, (t AT TIME ZONE 'UTC')::date, count(*),
         sum((data->>'rom_deg')::float8), min((data->>'rom_deg')::float8),
         max((data->>'rom_deg')::float8)
  FROM ins WHERE type = 'rep.metrics' AND patient_id IS NOT NULL
  GROUP BY 1, 2, 3, 4
  ON CONFLICT (organization_id, patient_id, exercise_id, day) DO UPDATE SET
    reps = r.reps + EXCLUDED.reps, rom_sum = r.rom_sum + EXCLUDED.rom_sum,
    rom_min = least(r.rom_min, EXCLUDED.rom_min), rom_max = greatest(r.rom_max, EXCLUDED.rom_max)
  RETURNING 1
), ses AS (
  INSERT INTO telemetry_sessions_daily AS s (organization_id, patient_id, day,
                                             sessions_completed, active_ms)
  SELECT organization_id, patient_id, (t AT TIME ZONE 'UTC')::date,
         count(*) FILTER (WHERE data->>'phase' = 'completed'),
         coalesce(sum((data->>'ms')::bigint) FILTER (WHERE data->>'phase' = 'exercise'), 0)
  FROM ins WHERE type = 'session.timing' AND patient_id IS NOT NULL
  GROUP BY 1, 2, 3
  ON CONFLICT (organization_id, patient_id, day) DO UPDATE SET
    sessions_completed = s.sessions_completed + EXCLUDED.sessions_completed,
    active_ms = s.active_ms + EXCLUDED.active_ms
  RETURNING 1
)
SELECT (SELECT count(*) FROM ins) AS inserted
"""


class MissingPartition(Exception):
    """An event's time has no partition: never dropped silently; `cadence partitions` fixes it."""


async def write(conn: asyncpg.Connection, org_id: uuid.UUID, records: Sequence[Record]) -> int:
    """Store `records` of one organization; returns how many were new. Caller owns the
    transaction (its RLS context must be `org_id`)."""
    await conn.execute(_STAGING)
    await conn.copy_records_to_table("telemetry_staging", records=records, columns=COLUMNS)
    try:
        inserted: int = await conn.fetchval(_MERGE)
    except asyncpg.CheckViolationError as exc:
        if "no partition" in str(exc):
            raise MissingPartition(str(exc)) from exc
        raise
    return inserted


async def rom_trend(
    conn: asyncpg.Connection,
    patient_id: uuid.UUID,
    exercise_id: uuid.UUID | None,
    start: date,
    end: date,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT exercise_id, day, reps, rom_sum / reps AS rom_mean, rom_min, rom_max
           FROM telemetry_rom_daily
           WHERE patient_id = $1 AND day BETWEEN $2 AND $3
             AND ($4::uuid IS NULL OR exercise_id = $4)
           ORDER BY exercise_id, day""",
        patient_id,
        start,
        end,
        exercise_id,
    )
    return [dict(r) for r in rows]


async def sessions_by_day(
    conn: asyncpg.Connection, patient_id: uuid.UUID, start: date, end: date
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT day, sessions_completed, active_ms FROM telemetry_sessions_daily
           WHERE patient_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day""",
        patient_id,
        start,
        end,
    )
    return [dict(r) for r in rows]


async def export(
    conn: asyncpg.Connection, patient_id: uuid.UUID, chunk: int = 1000
) -> AsyncIterator[list[asyncpg.Record]]:
    """Every stored event of one patient in time order, chunk by chunk (server-side cursor;
    must run inside a transaction)."""
    cursor = await conn.cursor(
        """SELECT event_id, type, t, session_id, exercise_id, data FROM telemetry_events
           WHERE patient_id = $1 ORDER BY t, event_id""",
        patient_id,
    )
    while rows := await cursor.fetch(chunk):
        yield rows
