"""The telemetry command facade: what REST and the WebSocket `telemetry` op both call."""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from actors.pool import ActorPool
from actors.telemetry import IngestRequest, IngestResult
from pipelines.telemetry import Rejection, TelemetryRow, validate_batch
from storage.db import Database
from storage.types import Principal

CONSENT_TTL_S = 30.0
CONSENT_CACHE_SIZE = 10_000


class IngestFailed(Exception):
    """Storage refused the batch (for example a missing partition); nothing was acknowledged."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class SubmitResult:
    accepted: int
    rejected: list[Rejection] = field(default_factory=list)
    # Analytics events of a patient who opted out: accepted (so clients stop resending) and
    # deliberately not stored.
    discarded: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "rejected": [r.as_dict() for r in self.rejected],
            "discarded": self.discarded,
        }


class TelemetryCommands:
    def __init__(self, pool: ActorPool, db: Database) -> None:
        self._pool = pool
        self._db = db
        self._consent: OrderedDict[uuid.UUID, tuple[float, bool]] = OrderedDict()

    async def analytics_allowed(self, org_id: uuid.UUID, patient_id: uuid.UUID) -> bool:
        now = time.monotonic()
        cached = self._consent.get(patient_id)
        if cached and cached[0] > now:
            return cached[1]
        async with self._db.tenant(org_id) as conn:
            allowed = await conn.fetchval(
                "SELECT consent_analytics FROM patients WHERE id = $1", patient_id
            )
        value = bool(allowed) if allowed is not None else True
        self._consent[patient_id] = (now + CONSENT_TTL_S, value)
        self._consent.move_to_end(patient_id)
        while len(self._consent) > CONSENT_CACHE_SIZE:
            self._consent.popitem(last=False)
        return value

    def forget_consent(self, patient_id: uuid.UUID) -> None:
        self._consent.pop(patient_id, None)

    async def submit(self, principal: Principal, events: list[Any]) -> SubmitResult:
        if principal.org_id is None:
            raise IngestFailed("organization_required")
        rows, rejected = validate_batch(events, datetime.now(UTC))
        discarded = 0
        if principal.patient_id is not None and any(not r.clinical for r in rows):
            if not await self.analytics_allowed(principal.org_id, principal.patient_id):
                kept = [r for r in rows if r.clinical]
                discarded = len(rows) - len(kept)
                rows = kept
        if rows:
            result: IngestResult = await self._pool.call(
                principal.org_id,
                IngestRequest.of(principal.org_id, self._records(principal, rows)),
                idempotent=True,  # resends are deduplicated by event id
            )
            if result.error:
                raise IngestFailed(result.error)
        return SubmitResult(len(rows) + discarded, rejected, discarded)

    @staticmethod
    def _records(principal: Principal, rows: list[TelemetryRow]) -> list[tuple[Any, ...]]:
        received = datetime.now(UTC)
        return [
            (
                principal.org_id,
                principal.patient_id,
                r.session_id,
                r.exercise_id,
                r.event_id,
                r.type.value,
                r.t,
                received,
                r.data,
            )
            for r in rows
        ]
