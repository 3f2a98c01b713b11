"""TelemetryIngest actors: client batches in, durable rows out.

The server hands over each batch as the bytes it received, so the CPU work of telemetry (JSON
parsing, validation per event type, the consent filter, COPY encoding) runs in these actor
processes, not on the server's event loop. The pool micro-batches requests per actor, so under
load one COPY (and one commit) carries many clients' events. `handle_batch` answers only after
the transaction committed: an acknowledged event is stored; one that is not may be resent and is
deduplicated by its id.

Per event this is the hottest Python in Cadence, so rows go from validation straight into the
tuples asyncpg encodes for binary COPY (storage.telemetry.STAGED_COLUMNS): ids as text, times as
integers, `data` as JSON bytes; no intermediate text encoding, no `uuid.UUID` or datetime objects.
"""

from __future__ import annotations

import logging
import operator
import time
import uuid
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import ray

from actors.base import LazyPool, PooledActor
from pipelines.telemetry import CLINICAL, TelemetryRow, validate_batch
from storage.telemetry import MissingPartition, StagedRow, write_staged

log = logging.getLogger("cadence.telemetry")
CONSENT_TTL_S = 30.0
CONSENT_CACHE_SIZE = 10_000
_TYPE = operator.attrgetter("type")


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """One client batch: who sent it and its body `{"events": [...]}`, as received."""

    organization_id: uuid.UUID
    patient_id: uuid.UUID | None
    body: bytes


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Analytics events of a patient who opted out: acknowledged and deliberately not stored.
    discarded: int = 0
    # "bad_request" (not JSON) | "validation_failed" (no events array) | "missing_partition" |
    # "storage_error"
    error: str | None = None


@dataclass
class _Shaped:
    request: IngestRequest
    records: list[StagedRow]
    result: IngestResult
    clinical: bool = False


@ray.remote
class TelemetryIngest(PooledActor):
    def __init__(self, index: int, size: int, dsn: str) -> None:
        super().__init__(index, size)
        self._db = LazyPool(dsn, max_size=4)
        self._consent: OrderedDict[uuid.UUID, tuple[float, bool]] = OrderedDict()
        self.batches = 0
        self.rows = 0

    async def _analytics_allowed(self, org: uuid.UUID, patient: uuid.UUID) -> bool:
        now = time.monotonic()
        cached = self._consent.get(patient)
        if cached and cached[0] > now:
            return cached[1]
        async with (await self._db()).acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
            allowed = await conn.fetchval(
                "SELECT consent_analytics FROM patients WHERE id = $1", patient
            )
        value = True if allowed is None else bool(allowed)
        self._consent[patient] = (now + CONSENT_TTL_S, value)
        self._consent.move_to_end(patient)
        while len(self._consent) > CONSENT_CACHE_SIZE:
            self._consent.popitem(last=False)
        return value

    async def _shape(self, req: IngestRequest, now: datetime) -> _Shaped:
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            return _Shaped(req, [], IngestResult(error="bad_request"))
        events = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list):
            return _Shaped(req, [], IngestResult(error="validation_failed"))
        rows, rejected = validate_batch(events, now)
        discarded = 0
        if req.patient_id is not None and any(not r.clinical for r in rows):
            if not await self._analytics_allowed(req.organization_id, req.patient_id):
                kept = [r for r in rows if r.clinical]
                discarded, rows = len(rows) - len(kept), kept
        result = IngestResult(len(rows) + discarded, [r.as_dict() for r in rejected], discarded)
        clinical = not CLINICAL.isdisjoint(map(_TYPE, rows))  # C-level: no call per row
        return _Shaped(req, _staged(req, rows), result, clinical)

    async def handle_batch(self, requests: list[IngestRequest]) -> list[IngestResult]:
        now = datetime.now(UTC)
        shaped = [await self._shape(req, now) for req in requests]
        by_org: dict[uuid.UUID, list[_Shaped]] = defaultdict(list)
        for item in shaped:
            if item.records:
                by_org[item.request.organization_id].append(item)
        pool = await self._db()
        for org, items in by_org.items():
            records = [rec for item in items for rec in item.records]
            error: str | None = None
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
                    stored = await write_staged(
                        conn, records, clinical=any(item.clinical for item in items)
                    )
            except MissingPartition:
                log.error("telemetry partition missing; run `cadence partitions`")
                error = "missing_partition"
            except (asyncpg.PostgresError, OSError) as exc:
                log.error("telemetry write failed", extra={"error": type(exc).__name__})
                error = "storage_error"
            if error:
                for item in items:
                    item.result = IngestResult(error=error)
                continue
            self.batches += 1
            self.rows += stored
        return [item.result for item in shaped]

    async def stats(self) -> dict[str, Any]:
        return {"batches": self.batches, "rows": self.rows}


def _staged(req: IngestRequest, rows: list[TelemetryRow]) -> list[StagedRow]:
    org, patient = req.organization_id, req.patient_id
    # `r.type` is a StrEnum member, a str: asyncpg encodes it as the text it is.
    return [
        (org, patient, r.session_id, r.exercise_id, r.event_id, r.type, r.t_us,
         orjson.dumps(r.data))
        for r in rows
    ]  # fmt: skip
