"""What a consumer is, and what it is given: the shapes every family of events-out implements
(webhooks, notifications, reminders, the dashboard projection) and the runner drives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

import redis.asyncio as aioredis

from storage.crypto import KeyRing
from storage.db import Database
from storage.events import EventLog
from storage.keys import KeySpace
from storage.streams import DomainEvent


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware (UTC)."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class Context:
    """The services a consumer works with; one per process, built by the server."""

    db: Database  # `tenant(org)` for an organization's rows, `platform()` to claim across them
    redis: aioredis.Redis
    keys: KeySpace
    events: EventLog  # live pushes (in-app notifications, dashboard deltas)
    keyring: KeyRing  # opens sealed patient fields (e-mail, phone)
    clock: Clock


class Handler(Protocol):
    """Reads every organization event through its own consumer group.

    `handle` must be idempotent by `event.id` (the same event may come again after a crash or a
    takeover); raising leaves the event pending, so it is retried, and after the runner's
    `max_attempts` it becomes a dead letter."""

    group: str

    async def handle(self, event: DomainEvent) -> None: ...


@runtime_checkable
class BatchHandler(Handler, Protocol):
    """A handler that can take a whole read batch at once (one transaction for many events).
    If `handle_many` raises, the runner handles the batch's events one by one, so one bad event
    is retried and dead-lettered alone."""

    async def handle_many(self, events: Sequence[DomainEvent]) -> None: ...


class Pump(Protocol):
    """Work that is due by time rather than by event: due deliveries, due reminders, the outbox.

    `run_once` claims and does one bounded batch and returns how many items it handled; the
    runner calls it again at once while it returns more than zero, and otherwise after
    `idle_s` (or sooner when woken). Claims must be safe against a second pump in another
    process (`FOR UPDATE SKIP LOCKED` with a lease)."""

    name: str
    idle_s: float

    async def run_once(self) -> int: ...


HandlerFactory = Callable[[Context], Handler]
PumpFactory = Callable[[Context], Pump]
