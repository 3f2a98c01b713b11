"""TelemetryIngest actors: batches of validated rows in, durable rows out.

The server validates and shapes events (pipelines.telemetry) and the pool micro-batches client
batches per actor, so under load one COPY carries many clients' events. `handle_batch` answers
only after the transaction committed: an acknowledged event is stored; one that is not
acknowledged may be resent and is deduplicated by its id.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg
import ray

from actors.base import PooledActor
from storage.db import create_pool
from storage.telemetry import MissingPartition, encode_rows, has_clinical, write_encoded

log = logging.getLogger("cadence.telemetry")


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """One client batch, already encoded for COPY (cheap to send through Ray)."""

    organization_id: uuid.UUID
    payload: bytes
    rows: int
    clinical: bool  # carries rows that feed the daily aggregates

    @classmethod
    def of(cls, organization_id: uuid.UUID, records: list[tuple[Any, ...]]) -> IngestRequest:
        return cls(organization_id, encode_rows(records), len(records), has_clinical(records))


@dataclass(frozen=True, slots=True)
class IngestResult:
    stored: int  # the request's rows now durable (resent ones were deduplicated, not doubled)
    error: str | None = None  # "missing_partition" | "storage_error"


@ray.remote
class TelemetryIngest(PooledActor):
    def __init__(self, index: int, size: int, dsn: str) -> None:
        super().__init__(index, size)
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None
        self.batches = 0
        self.rows = 0

    async def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await create_pool(self._dsn, min_size=1, max_size=4)
        return self._pool

    async def handle_batch(self, requests: list[IngestRequest]) -> list[IngestResult]:
        by_org: dict[uuid.UUID, list[int]] = defaultdict(list)
        for i, req in enumerate(requests):
            by_org[req.organization_id].append(i)
        results: list[IngestResult] = [IngestResult(0)] * len(requests)
        pool = await self._db()
        for org, indexes in by_org.items():
            payload = b"".join(requests[i].payload for i in indexes)
            clinical = any(requests[i].clinical for i in indexes)
            try:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute("SELECT set_config('app.org_id', $1, true)", str(org))
                    stored = await write_encoded(conn, payload, clinical=clinical)
            except MissingPartition:
                log.error("telemetry partition missing; run `cadence partitions`")
                for i in indexes:
                    results[i] = IngestResult(0, "missing_partition")
                continue
            except (asyncpg.PostgresError, OSError) as exc:
                log.error("telemetry write failed", extra={"error": type(exc).__name__})
                for i in indexes:
                    results[i] = IngestResult(0, "storage_error")
                continue
            self.batches += 1
            self.rows += stored
            for i in indexes:
                results[i] = IngestResult(requests[i].rows)
        return results

    async def stats(self) -> dict[str, Any]:
        return {"batches": self.batches, "rows": self.rows}
