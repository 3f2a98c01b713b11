"""Revocations reach every server process at once: one Redis pub/sub topic that each process
listens to, so a disabled member, a removed membership, a changed role or a logout ends the
member's open WebSockets everywhere (PROTOCOL.md: close code 4003 within a second), and every
process forgets its cached answers about that member.

Pub/sub is fire-and-forget: a process whose link is down misses messages. The tokens themselves
stay refused (the membership gate and the session revocation list are the truth, cached for at
most a second), and a socket whose revocation was lost still ends when its token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from storage.types import Principal

log = logging.getLogger("cadence.identity.revocation")

RECONNECT_S = 0.5


@dataclass(frozen=True, slots=True)
class Revocation:
    """Ends `user_id`'s live access: in organization `org_id` (None: in every one), for the
    sign-ins `sessions` (None: all of them)."""

    user_id: uuid.UUID
    org_id: uuid.UUID | None = None
    sessions: frozenset[uuid.UUID] | None = None

    def matches(self, principal: Principal | None) -> bool:
        if principal is None or principal.user_id != self.user_id:
            return False
        if self.org_id is not None and principal.org_id != self.org_id:
            return False
        return self.sessions is None or principal.session_id in self.sessions

    def encode(self) -> bytes:
        return orjson.dumps(
            {
                "user": str(self.user_id),
                "org": str(self.org_id) if self.org_id else None,
                "sessions": None if self.sessions is None else sorted(map(str, self.sessions)),
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> Revocation:
        data = orjson.loads(raw)
        sessions = data.get("sessions")
        return cls(
            user_id=uuid.UUID(data["user"]),
            org_id=uuid.UUID(data["org"]) if data.get("org") else None,
            sessions=None if sessions is None else frozenset(uuid.UUID(s) for s in sessions),
        )


Listener = Callable[[Revocation], None]


class RevocationFeed:
    """Publishes revocations and hands every one (this process's own included) to listeners.
    Listeners are synchronous and must not raise; they run on the event loop."""

    def __init__(self, redis: Callable[[], aioredis.Redis], topic: Callable[[], str]) -> None:
        self._redis = redis
        self._topic = topic
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Register `listener`; returns the function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def publish(self, revocations: Iterable[Revocation]) -> None:
        """Apply here at once, then tell the other processes. A failed publish is logged: the
        revoked tokens are refused anyway once the others' one-second caches expire."""
        batch = list(revocations)
        for revocation in batch:
            self._deliver(revocation)
        try:
            redis = self._redis()
            for revocation in batch:
                await redis.publish(self._topic(), revocation.encode())
        except RedisError as exc:
            log.error("revocation publish failed", extra={"error": repr(exc)})

    def _deliver(self, revocation: Revocation) -> None:
        for listener in list(self._listeners):
            try:
                listener(revocation)
            except Exception:  # one faulty listener must not keep the others from hearing
                log.exception("revocation listener failed")

    async def start(self, timeout_s: float = 5.0) -> None:
        """Subscribe, and wait (bounded) until Redis confirmed it: revocations after this are
        heard. Without Redis the server still starts; the feed keeps trying in the background."""
        self._task = asyncio.create_task(self._run(), name="identity-revocations")
        try:
            async with asyncio.timeout(timeout_s):
                await self.ready.wait()
        except TimeoutError:
            log.error("revocation feed not subscribed yet; retrying in the background")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            pubsub = self._redis().pubsub()
            try:
                await pubsub.subscribe(self._topic())
                async for message in pubsub.listen():
                    if message.get("type") == "subscribe":  # Redis confirmed: we hear from now on
                        self.ready.set()
                    if message.get("type") != "message":
                        continue
                    try:
                        revocation = Revocation.decode(message["data"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("unreadable revocation message dropped")
                        continue
                    self._deliver(revocation)
            except Exception as exc:  # the link, or anything else: resubscribe, never die
                log.warning("revocation feed lost its link", extra={"error": repr(exc)})
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(RECONNECT_S)
