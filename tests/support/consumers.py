"""Consumers in tests: a Context built from a running app, a clock the test moves by hand, and
a recording handler (also run in a child process by tests/support/consumer_proc.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from aiohttp import web

from actors.consumers import Context
from server.resources import DB_KEY, EVENTS_KEY, KEYS_KEY, REDIS_KEY, SETTINGS_KEY
from server.settings import Settings
from storage.streams import DomainEvent


class ManualClock:
    """A clock that moves only when the test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self.at = start or datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta

    def set(self, at: datetime) -> None:
        self.at = at


def context_of(app: web.Application, clock: ManualClock | None = None) -> Context:
    settings = app[SETTINGS_KEY]
    return Context(
        db=app[DB_KEY],
        redis=app[REDIS_KEY],
        keys=app[KEYS_KEY],
        events=app[EVENTS_KEY],
        keyring=settings.data_keys,
        clock=clock or ManualClock(),
    )


class RecordingHandler:
    """Counts every delivery of every event id in a Redis hash `<key>` (HINCRBY), so a test sees
    each event's deliveries across processes; optionally fails events of a type, or slows down."""

    def __init__(
        self,
        redis: aioredis.Redis,
        key: str,
        *,
        group: str = "recording",
        fail_type: str = "",
        delay_s: float = 0.0,
    ) -> None:
        self.group = group
        self._redis = redis
        self._key = key
        self._fail_type = fail_type
        self._delay_s = delay_s

    async def handle(self, event: DomainEvent) -> None:
        if self._delay_s:
            await asyncio.sleep(self._delay_s)
        if event.type == self._fail_type:
            raise RuntimeError("refused by the test")
        await self._redis.hincrby(self._key, event.id, 1)


class BatchRecordingHandler(RecordingHandler):
    """A RecordingHandler that also takes whole batches (one HINCRBY pipeline), refusing any
    batch that holds an event of `fail_type`; counts its batches in `<key>:batches`."""

    async def handle_many(self, events: Sequence[DomainEvent]) -> None:
        if any(e.type == self._fail_type for e in events):
            raise RuntimeError("a batch with a refused event")
        pipe = self._redis.pipeline(transaction=True)
        for event in events:
            pipe.hincrby(self._key, event.id, 1)
        pipe.incr(self._key + ":batches")
        await pipe.execute()


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 60.0) -> None:
    """Poll `check` until it holds (state kept in another process or service, which offers no
    event to wait on); the bound is generous, not a timing assertion."""
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment of a worker process (`cadence consume`) with the settings of this test:
    its database, Redis prefix and the same (default) data keys as the test's app."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CADENCE_DATA_KEYS", "CADENCE_BLIND_INDEX_KEY", "CADENCE_DATA_KEY_ACTIVE")
    }
    return {
        **inherited,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url,
        "CADENCE_ENV": "test",
        "CADENCE_REDIS_PREFIX": settings.redis_prefix,
        "CADENCE_SECRET": settings.secret,
        "CADENCE_DB_APP_PASSWORD": settings.app_db_password,
        "CADENCE_LOG_LEVEL": "ERROR",
    }
