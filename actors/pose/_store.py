"""Where pose workers keep sessions between restarts: one JSON document per session in Redis
(meta, plan, guide and tracker snapshots), and an index of the sessions still running, which a
(re)started worker scans for the ones it owns.

Also reads the gateway's patient presence (PROTOCOL.md: whether a patient's device is
connected): a sorted set per channel whose members score their expiry in ms. That is how a
worker learns a patient's connection dropped; the gateway has no close hook for op handlers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis

from storage.keys import KeySpace
from storage.types import Channel

RUNNING_TTL_S = 24 * 3600
ENDED_TTL_S = 3600


class SessionStore:
    def __init__(self, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._redis = redis
        self._keys = keys

    def _key(self, session_id: uuid.UUID) -> str:
        return self._keys.named("pose", "session", str(session_id))

    @property
    def _index(self) -> str:
        return self._keys.named("pose", "running")

    async def save(self, documents: Sequence[tuple[uuid.UUID, Mapping[str, Any], bool]]) -> None:
        """Write `(session_id, document, running)` in one round trip; a session leaves the
        index once it is no longer running (ended and recorded)."""
        if not documents:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id, doc, running in documents:
                ttl = RUNNING_TTL_S if running else ENDED_TTL_S
                pipe.set(self._key(session_id), orjson.dumps(doc), ex=ttl)
                if running:
                    pipe.sadd(self._index, str(session_id))
                else:
                    pipe.srem(self._index, str(session_id))
            await pipe.execute()

    async def load(self, session_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
        if not session_ids:
            return {}
        raw = await self._redis.mget([self._key(s) for s in session_ids])
        return {s: orjson.loads(r) for s, r in zip(session_ids, raw, strict=True) if r is not None}

    async def running(self) -> list[uuid.UUID]:
        out = []
        for member in await self._redis.smembers(self._index):
            text = member.decode() if isinstance(member, bytes) else str(member)
            try:
                out.append(uuid.UUID(text))
            except ValueError:
                continue
        return out

    async def forget(self, session_id: uuid.UUID) -> None:
        await self._redis.srem(self._index, str(session_id))

    async def present(self, patient_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
        """Whether each patient has a connected device (unexpired presence member)."""
        if not patient_ids:
            return {}
        now_ms = int(time.time() * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            for pid in patient_ids:
                pipe.zcount(self._keys.presence(Channel.patient(pid).name), now_ms, "+inf")
            counts = await pipe.execute()
        return {pid: int(n) > 0 for pid, n in zip(patient_ids, counts, strict=True)}
