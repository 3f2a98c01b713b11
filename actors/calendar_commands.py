"""The live-calendar command facade: what REST handlers and WebSocket ops both call.

Every command goes to the CalendarShard owning the calendar (stable hash of its id) through the
micro-batching pool. A command about a hold names only the hold, so its calendar is read from
the hold's Redis record first (or from this process's memory of the holds it granted: a hold
never moves to another calendar). All commands are safe to retry (holds carry an idempotency key,
releases and bookings are idempotent per hold), so the pool retries them across a shard restart
for a bounded time and then raises ShardUnavailable (503 + Retry-After): never a wrong answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import date, datetime

import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge

from actors import calendar_messages as m
from actors.calendar_store import HoldStore
from actors.pool import ActorPool
from storage.audit import AuditActor
from storage.cache import BoundedCache
from storage.keys import KeySpace
from storage.types import Principal, Role

log = logging.getLogger("cadence.calendar")

CALENDARS_LOADED = Gauge("cadence_calendars_loaded", "Calendars loaded in calendar shards")
LIVE_HOLDS = Gauge("cadence_live_holds", "Live holds in calendar shards")
EXPIRED = Gauge("cadence_holds_expired", "Holds expired by calendar shards (since their start)")
OUTCOMES = Counter("cadence_hold_commands_total", "Live calendar commands", ["command", "outcome"])
STATS_EVERY_S = 10.0
# Holds granted through this process whose calendar is known without a Redis read (a release or
# booking usually follows its hold within minutes, on the same server).
KNOWN_HOLDS = 50_000
KNOWN_HOLD_S = 3600.0


def digest(secret: str) -> str:
    """Stored and compared instead of a hold token or a client's idempotency key."""
    return hashlib.sha256(secret.encode()).hexdigest()[:40]


def caller_of(who: Principal) -> m.Caller:
    """A signed-in caller: patients hold as themselves, staff as their user."""
    if who.role is Role.PATIENT and who.patient_id is not None:
        holder = f"patient:{who.patient_id}"
    else:
        holder = f"user:{who.user_id}"
    return m.Caller(holder, who.org_id, who.role.value, who.patient_id)


def anonymous(hold_token: str) -> m.Caller:
    """An anonymous booker of the public API is whoever knows the hold token."""
    return m.Caller("anon:" + digest(hold_token))


_OUTCOME_CHILDREN: dict[tuple[str, str], Counter] = {}


def _outcome(command: str, result: m.Result) -> m.Result:
    key = (command, str(result.status) if isinstance(result, m.Failure) else "ok")
    child = _OUTCOME_CHILDREN.get(key)
    if child is None:  # a few commands times a few statuses; labels() locks on every call
        child = _OUTCOME_CHILDREN[key] = OUTCOMES.labels(*key)
    child.inc()
    return result


class CalendarCommands:
    def __init__(self, pool: ActorPool, redis: aioredis.Redis, keys: KeySpace) -> None:
        self._pool = pool
        self._store = HoldStore(redis, keys)
        self._calendars: BoundedCache[uuid.UUID, uuid.UUID] = BoundedCache(
            "hold_calendars", KNOWN_HOLDS
        )
        self._stats: asyncio.Task[None] | None = None

    async def _call(self, request: m.Request) -> m.Result:
        result: m.Result = await self._pool.call(request.calendar_id, request, idempotent=True)
        return result

    async def slots(
        self,
        caller: m.Caller,
        calendar_id: uuid.UUID,
        start: date | None = None,
        end: date | None = None,
    ) -> m.Result:
        """`start` / `end`: instants (datetime) or calendar-local dates, `end` inclusive."""
        return await self._call(m.SlotsQuery(calendar_id, caller, start, end))

    async def hold(
        self,
        caller: m.Caller,
        calendar_id: uuid.UUID,
        start: datetime,
        specialist_id: uuid.UUID | None = None,
        idempotency_key: str | None = None,
    ) -> m.Result:
        # A client key is scoped to the caller (two callers' keys never collide); without one,
        # a fresh key still makes the pool's own retries across a restart safe.
        key = digest(f"{caller.holder}|{idempotency_key}") if idempotency_key else uuid.uuid4().hex
        request = m.HoldRequest(
            calendar_id, caller, start, specialist_id, key, may_repeat=idempotency_key is not None
        )
        result = await self._call(request)
        if isinstance(result, m.HoldGranted):
            self._calendars.put(result.hold.id, calendar_id, time.monotonic() + KNOWN_HOLD_S)
        return _outcome("hold", result)

    async def _calendar_of(self, hold_id: uuid.UUID) -> uuid.UUID | None:
        """The hold's calendar; its shard answers for a hold that ended or never existed."""
        known = self._calendars.get(hold_id)
        if known is not None:
            return known
        async with asyncio.timeout(2.0):
            hold = await self._store.lookup(hold_id)
        return None if hold is None else hold.calendar_id

    async def release(self, caller: m.Caller, hold_id: uuid.UUID) -> m.Result:
        calendar_id = await self._calendar_of(hold_id)
        if calendar_id is None:
            return _outcome("release", m.not_found("hold"))
        return _outcome("release", await self._call(m.ReleaseRequest(calendar_id, caller, hold_id)))

    async def book(
        self,
        caller: m.Caller,
        hold_id: uuid.UUID,
        actor: AuditActor,
        *,
        patient_id: uuid.UUID | None = None,
        guest: m.GuestContact | None = None,
    ) -> m.Result:
        calendar_id = await self._calendar_of(hold_id)
        if calendar_id is None:
            return _outcome("book", m.not_found("hold"))
        request = m.BookRequest(calendar_id, caller, hold_id, actor, patient_id, guest)
        return _outcome("book", await self._call(request))

    async def guard(
        self, caller: m.Caller, calendar_id: uuid.UUID, spans: Iterable[m.Span]
    ) -> m.Result:
        """Keep these times from new holds while staff write appointments into them
        (m.GuardRequest); release with `release_guard` once the write committed or failed."""
        request = m.GuardRequest(calendar_id, caller, tuple(spans), uuid.uuid4().hex)
        return _outcome("guard", await self._call(request))

    async def release_guard(
        self, caller: m.Caller, calendar_id: uuid.UUID, hold_ids: Iterable[uuid.UUID]
    ) -> None:
        """Best effort: a guard that is not released expires on its own (GUARD_TTL)."""
        outcomes = await asyncio.gather(
            *(self._call(m.ReleaseRequest(calendar_id, caller, h)) for h in hold_ids),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) or isinstance(outcome, m.Failure):
                log.warning("guard release failed", extra={"error": repr(outcome)})

    async def changed(self, calendar_ids: Iterable[uuid.UUID], *, rules: bool = False) -> None:
        """The database changed these calendars outside the shards (staff cancel, reschedule,
        series, rule edits): each owning shard reloads and publishes the difference. Best effort
        after the commit: a failure is logged and the shard's periodic reload catches up."""
        ids = list(dict.fromkeys(calendar_ids))
        outcomes = await asyncio.gather(
            *(self._call(m.RefreshRequest(c, rules)) for c in ids), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                log.warning("calendar refresh failed", extra={"error": repr(outcome)})

    # --- metrics ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stats = asyncio.create_task(self._poll_stats(), name="calendar-stats")

    async def stop(self) -> None:
        if self._stats is not None:
            self._stats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._stats

    async def _poll_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            if not self._pool.started:
                continue
            try:
                async with asyncio.timeout(5.0):
                    stats = await self._pool.broadcast("stats")
            except Exception:
                continue
            CALENDARS_LOADED.set(sum(s["calendars"] for s in stats))
            LIVE_HOLDS.set(sum(s["live_holds"] for s in stats))
            EXPIRED.set(sum(s["expired"] for s in stats))
