"""Telemetry writes (COPY into a staging table, then one deduplicating insert that also rolls the
daily aggregates forward) and the reads answered from those aggregates."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg
import orjson

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


def _text(value: Any) -> bytes:
    if value is None:
        return b"\\N"
    if isinstance(value, datetime):
        return value.isoformat().encode()
    if isinstance(value, dict):
        # COPY's text format treats backslash as its escape: double the ones JSON uses. orjson
        # never emits a raw tab, newline or carriage return.
        return orjson.dumps(value).replace(b"\\", b"\\\\")
    return str(value).encode()


def encode_rows(records: Sequence[Record]) -> bytes:
    """`records` as a COPY text-format payload: one compact bytes object that crosses Ray
    without pickling thousands of small objects."""
    return b"".join(b"\t".join(_text(v) for v in rec) + b"\n" for rec in records)


_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_staging
  (LIKE telemetry_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""

# The bulk of telemetry (samples, watch events, errors) is inserted without looking back; the few
# clinical rows go through a deduplicating insert that rolls up only the rows really inserted, so
# aggregates count each event exactly once however often a client resends it.
_BULK = """
INSERT INTO telemetry_events SELECT * FROM telemetry_staging
WHERE type NOT IN ('rep.metrics', 'session.timing')
ON CONFLICT DO NOTHING
"""
_CLINICAL = """
WITH ins AS (
  INSERT INTO telemetry_events SELECT * FROM telemetry_staging
  WHERE type IN ('rep.metrics', 'session.timing')
  ON CONFLICT DO NOTHING
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
SELECT count(*) FROM ins
"""


class MissingPartition(Exception):
    """An event's time has no partition: never dropped silently; `cadence partitions` fixes it."""


def _missing_partition(exc: asyncpg.PostgresError) -> bool:
    return isinstance(exc, asyncpg.CheckViolationError) and "no partition" in str(exc)


async def write_encoded(conn: asyncpg.Connection, payload: bytes, *, clinical: bool = True) -> int:
    """Store an encoded batch (`encode_rows`) of one organization; returns how many rows were new.
    The caller owns the transaction, whose RLS context must be that organization.

    COPY lands in a temporary staging table (COPY into a table under row-level security is not
    allowed, and a resend must not fail the batch); set-based inserts move it on, deduplicated."""
    await conn.execute(_STAGING)
    await conn.copy_to_table(
        "telemetry_staging", source=io.BytesIO(payload), columns=COLUMNS, format="text"
    )
    try:
        status = await conn.execute(_BULK)
        inserted = int(status.rsplit(" ", 1)[1])
        if clinical:
            inserted += int(await conn.fetchval(_CLINICAL))
    except asyncpg.CheckViolationError as exc:
        if "no partition" in str(exc):
            raise MissingPartition(str(exc)) from exc
        raise
    return inserted


def has_clinical(records: Sequence[Record]) -> bool:
    return any(rec[5] in ("rep.metrics", "session.timing") for rec in records)


async def write(conn: asyncpg.Connection, org_id: uuid.UUID, records: Sequence[Record]) -> int:
    """Store `records` (COLUMNS order) of one organization; see `write_encoded`."""
    return await write_encoded(conn, encode_rows(records), clinical=has_clinical(records))


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
