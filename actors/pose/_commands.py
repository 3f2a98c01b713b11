"""The telerehab session facade: what the REST handlers and the WebSocket ops both call. One
place that talks to the PoseWorker pool; sessions are routed by a stable hash of their id.

Retries across a worker restart (kill -9): `start` and `status` are idempotent; `feed` is too,
because a frame the worker already applied is refused on its timestamp (frames must be newer
than the last one seen), so resending a batch never counts a rep twice. Camera frames and
control commands are not retried: a late camera frame is worthless, and a command answered
`unavailable` is for the client to repeat.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
from numpy.typing import NDArray

from actors._pool._pool import ActorPool
from actors.pose import messages as m
from pipelines.session import SessionPlan
from storage.types import PatientSubject


class SessionCommands:
    def __init__(self, pool: ActorPool) -> None:
        self._pool = pool

    @property
    def pool(self) -> ActorPool:
        return self._pool

    async def start(self, meta: m.SessionMeta, plan: SessionPlan) -> m.Outcome:
        request = m.Start(meta, plan.to_dict())
        result: m.Outcome = await self._pool.call(meta.session_id, request, idempotent=True)
        return result

    async def feed(
        self,
        session_id: uuid.UUID,
        owner: PatientSubject,
        t_ms: NDArray[np.float64],
        landmarks: NDArray[np.float64],
        *,
        aspect: float | None = None,
        world: NDArray[np.float64] | None = None,
        infer_aspect: bool = False,
    ) -> asyncio.Future[m.Outcome]:
        """Queue a batch of frames for the session's worker; returns the future of its outcome.
        Batches queued one after another are applied in that order, so a caller may queue the
        next before the last is answered (the WebSocket `pose` ops pipeline this way)."""
        request = m.Feed(session_id, owner, t_ms, landmarks, aspect, world, infer_aspect)
        result: asyncio.Future[m.Outcome] = await self._pool.submit(
            session_id, request, idempotent=True
        )
        return result

    async def frame(
        self, session_id: uuid.UUID, owner: PatientSubject, t_ms: float, jpeg: bytes
    ) -> m.Outcome:
        request = m.Frame(session_id, owner, t_ms, jpeg)
        result: m.Outcome = await self._pool.call(session_id, request)
        return result

    async def control(
        self, session_id: uuid.UUID, owner: PatientSubject, action: str, reps: int | None = None
    ) -> m.Outcome:
        result: m.Outcome = await self._pool.call(
            session_id, m.Control(session_id, owner, action, reps)
        )
        return result

    async def status(self, session_id: uuid.UUID) -> m.Outcome:
        result: m.Outcome = await self._pool.call(session_id, m.Status(session_id), idempotent=True)
        return result

    async def stop_patient(self, patient: PatientSubject, reason: str) -> int:
        """Abandon the patient's running sessions on every worker (a session may run on any;
        sessions are sharded by their own id). Returns how many were stopped."""
        stopped = await self._pool.broadcast("stop_patient", patient, reason)
        return sum(int(n) for n in stopped)

    async def stats(self) -> list[dict[str, Any]]:
        """Every worker's counters and compute timings (tests, bench, operators)."""
        return await self._pool.broadcast("stats")
