"""The telemetry command facade: what REST and the WebSocket `telemetry` op both call."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from actors._pool._pool import ActorPool
from actors.telemetry._ingest import IngestRequest, IngestResult
from storage.types import PatientSubject, Principal


class IngestFailed(Exception):
    """The batch was not stored (malformed, or storage refused it); nothing was acknowledged."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class SubmitResult:
    accepted: int
    rejected: list[dict[str, Any]] = field(default_factory=list)
    # Analytics events of a patient who opted out: accepted (so clients stop resending) and
    # deliberately not stored.
    discarded: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": self.rejected, "discarded": self.discarded}


class TelemetryCommands:
    def __init__(self, pool: ActorPool) -> None:
        self._pool = pool
        self._turn = itertools.count()

    async def forget_consent(self, patient: PatientSubject) -> None:
        """A consent decision was recorded: every ingest actor rereads it on the next batch."""
        await self._pool.broadcast("forget_consent", patient)

    async def submit(self, principal: Principal, body: bytes) -> SubmitResult:
        """`body`: one client batch `{"events": [...]}` as the client sent it (the REST body or
        the WebSocket frame); the actor decodes it."""
        if principal.org_id is None:
            raise IngestFailed("organization_required")
        result: IngestResult = await self._pool.call(
            # Telemetry needs no order between batches: spread them over every actor.
            str(next(self._turn)),
            IngestRequest(principal.org_id, principal.patient_id, body),
            idempotent=True,  # resends are deduplicated by event id
        )
        if result.error:
            raise IngestFailed(result.error)
        return SubmitResult(result.accepted, result.rejected, result.discarded)
