"""Telemetry writes (binary COPY into a staging table, then a set-based insert that also rolls the
daily aggregates forward) and the reads answered from those aggregates."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any

import asyncpg
import orjson

from pipelines.telemetry import micros
from storage.orm import first
from storage.tables import Patients

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
# In COLUMNS order: ids as `uuid.UUID` or UUID text, `t` an aware datetime, `data` a dict.
Record = tuple[Any, ...]

# What the ingest path COPYs, shaped for cheap encoding: ids as UUID text, the event time as
# microseconds since the epoch (asyncpg encodes a datetime about ten times slower than a bigint)
# and `data` as the JSON bytes (no jsonb codec call per row). `received_at` is the transaction's.
STAGED_COLUMNS = (
    "organization_id",
    "patient_id",
    "session_id",
    "exercise_id",
    "event_id",
    "type",
    "t_us",
    "data",
)
StagedRow = tuple[Any, ...]  # in STAGED_COLUMNS order
CLINICAL_TYPES = frozenset({"rep.metrics", "session.timing"})

# A temporary table: never WAL-logged, private to the connection, emptied at every commit.
_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS telemetry_ingest_staging (
  organization_id uuid NOT NULL,
  patient_id uuid,
  session_id uuid,
  exercise_id uuid,
  event_id uuid NOT NULL,
  type text NOT NULL,
  t_us bigint NOT NULL,
  data bytea NOT NULL
) ON COMMIT DELETE ROWS
"""
_INSERT = """
INSERT INTO telemetry_events
  (organization_id, patient_id, session_id, exercise_id, event_id, type, t, received_at, data)
SELECT organization_id, patient_id, session_id, exercise_id, event_id, type,
       timestamptz 'epoch' + t_us * interval '1 microsecond', now(),
       convert_from(data, 'UTF8')::jsonb
FROM telemetry_ingest_staging
"""

# An event is the same event only within its organization: the client chooses the id and the
# time, so another clinic may send the same pair, and it must neither replace nor suppress ours.
# The primary key is (organization_id, event_id, t) and every deduplication names it.
_SAME_EVENT = "ON CONFLICT (organization_id, event_id, t) DO NOTHING"
# The bulk of telemetry (samples, watch events, errors) needs no rollup. First a plain insert:
# a resend is rare, and the primary key refuses it anyway, which only costs this batch a second
# attempt with ON CONFLICT (`_BULK_DEDUPE`). Profiled, the speculative insertion of ON CONFLICT
# costs Postgres about half as much CPU per row again as the COPY itself.
_BULK_FRESH = _INSERT + "WHERE type NOT IN ('rep.metrics', 'session.timing')\n"
_BULK_DEDUPE = _BULK_FRESH + _SAME_EVENT
# The few clinical rows always go through the deduplicating insert, which rolls up only the rows
# really inserted, so aggregates count each event exactly once however often a client resends it.
_CLINICAL = f"""
WITH ins AS ({_INSERT}
  WHERE type IN ('rep.metrics', 'session.timing')
  {_SAME_EVENT}
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


def _inserted(status: str) -> int:
    return int(status.rsplit(" ", 1)[1])  # "INSERT 0 <rows>"


async def _insert_bulk(conn: asyncpg.Connection) -> int:
    try:
        async with conn.transaction():  # a savepoint: a refused resend keeps the staged rows
            return _inserted(await conn.execute(_BULK_FRESH))
    except asyncpg.UniqueViolationError:
        return _inserted(await conn.execute(_BULK_DEDUPE))


async def write_staged(
    conn: asyncpg.Connection, rows: Sequence[StagedRow], *, clinical: bool = True
) -> int:
    """Store `rows` (STAGED_COLUMNS order) of one organization; returns how many were new (a
    resent event is stored once, by its id). `clinical`: whether any row is of a rolled-up type
    (False skips that statement). The caller owns the transaction, whose RLS context must be
    that organization; nothing is visible to anyone before it commits.

    Binary COPY lands in a temporary staging table (COPY into a table under row-level security
    is not allowed, and a resend must not fail the batch); set-based inserts move it on."""
    await conn.execute(_STAGING)
    await conn.copy_records_to_table(
        "telemetry_ingest_staging", records=rows, columns=STAGED_COLUMNS
    )
    try:
        inserted = await _insert_bulk(conn)
        if clinical:
            inserted += int(await conn.fetchval(_CLINICAL))
    except asyncpg.CheckViolationError as exc:
        if "no partition" in str(exc):
            raise MissingPartition(str(exc)) from exc
        raise
    return inserted


async def write(conn: asyncpg.Connection, org_id: uuid.UUID, records: Sequence[Record]) -> int:
    """Store `records` (COLUMNS order) of the organization `org_id`; see `write_staged`. Their
    `received_at` is the transaction's time."""
    rows = [
        (org, patient, session, exercise, event_id, kind, micros(t), orjson.dumps(data))
        for org, patient, session, exercise, event_id, kind, t, _, data in records
    ]
    return await write_staged(conn, rows, clinical=any(r[5] in CLINICAL_TYPES for r in rows))


async def analytics_consent(patient_id: uuid.UUID) -> bool:
    """Whether the patient agreed to analytics telemetry (opt-in: no recorded consent, or no
    such patient in the transaction's organization, is a no). Reads the column the consent
    ledger keeps current (storage/consents.py)."""
    row = await first(
        Patients.select(Patients.consent_analytics).where(Patients.id == patient_id).first()
    )
    return row is not None and bool(row["consent_analytics"])


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
