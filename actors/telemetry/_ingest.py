"""TelemetryIngest actors: client batches in, durable rows out.

The server hands over each batch as the bytes it received (the REST body, or the WebSocket
frame: the same JSON object with an `events` array), so the CPU work of telemetry (decoding into
rows once, `pipelines.telemetry.decode_batch`, validation per event type, the consent filter,
COPY encoding) runs in these actor processes, not on the server's event loop. The pool
micro-batches requests per actor, so under load one COPY (and one commit) carries many clients'
events. `handle_batch` answers only after the transaction committed: an acknowledged event is
stored; one that is not may be resent and is deduplicated by its id.

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

from actors._pool import LazyPool, PooledActor, lower_priority
from pipelines.telemetry import CLINICAL, MalformedBatch, TelemetryRow, decode_batch
from storage.db import AppDatabase
from storage.telemetry import MissingPartition, StagedRow, analytics_consent, write_staged
from storage.types import PatientSubject

log = logging.getLogger("cadence.telemetry")
CONSENT_TTL_S = 30.0
CONSENT_CACHE_SIZE = 10_000
_TYPE = operator.attrgetter("type")


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """One client batch: who sent it and the batch `{"events": [...]}` as received (the body of
    `POST /v1/telemetry` or the WebSocket `telemetry` frame)."""

    organization_id: uuid.UUID
    patient_id: uuid.UUID | None
    body: bytes

    @property
    def patient(self) -> PatientSubject | None:
        """The sending patient with its organization (a patient id alone names no one)."""
        if self.patient_id is None:
            return None
        return PatientSubject(self.organization_id, self.patient_id)


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Analytics events of a patient without the analytics consent: acknowledged and deliberately
    # not stored (analytics is opt-in: storage/consents.py).
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
    def __init__(self, index: int, size: int, db: AppDatabase, niceness: int = 0) -> None:
        super().__init__(index, size)
        # Bulk work: when the CPU is short, calendar shards, pose workers and the server's
        # event loop (pushes, holds) go first; a batch acknowledged a little later loses nothing.
        lower_priority(niceness)
        self._db = LazyPool(db, max_size=4)
        # By organization AND patient: a token of one clinic carrying another clinic's patient
        # id must neither read nor set the consent cached for that clinic's patient.
        self._consent: OrderedDict[PatientSubject, tuple[float, bool]] = OrderedDict()
        self.batches = 0
        self.rows = 0

    async def _analytics_allowed(self, patient: PatientSubject) -> bool:
        now = time.monotonic()
        cached = self._consent.get(patient)
        if cached and cached[0] > now:
            return cached[1]
        async with (await self._db()).tenant(patient.org_id):
            value = await analytics_consent(patient.patient_id)
        self._consent[patient] = (now + CONSENT_TTL_S, value)
        self._consent.move_to_end(patient)
        while len(self._consent) > CONSENT_CACHE_SIZE:
            self._consent.popitem(last=False)
        return value

    async def _shape(self, req: IngestRequest, now: datetime) -> _Shaped:
        try:
            rows, rejected = decode_batch(req.body, now)
        except MalformedBatch as exc:
            return _Shaped(req, [], IngestResult(error=exc.code))
        discarded = 0
        patient = req.patient
        if patient is not None and any(not r.clinical for r in rows):
            if not await self._analytics_allowed(patient):
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
                async with pool.tenant(org) as conn:
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

    async def forget_consent(self, patient: PatientSubject) -> None:
        """Drop the cached analytics consent of the patient: a decision just recorded applies
        to the next batch, not after CONSENT_TTL_S."""
        self._consent.pop(patient, None)

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
