"""The live-calendar command facade: what REST handlers and WebSocket ops both call.

Every command goes to the CalendarShard owning the calendar's organization (stable hash of the
organization id: all of an organization's calendars live in one shard, so everything competing
for a specialist is decided in one place) through the micro-batching pool. A calendar's
organization never changes: it is read from Postgres once and remembered. A command about a
hold names only the hold, so its calendar is read from the hold's Redis record first (or from
this process's memory of the holds it granted: a hold never moves to another calendar). Hold
commands are safe to retry (holds carry an idempotency key, releases and bookings are
idempotent per hold), so the pool retries them across a shard restart for a bounded time and
then raises ShardUnavailable (503 + Retry-After): never a wrong answer. Staff writes are not
retried once they may have reached a shard.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from datetime import date, datetime

import asyncpg
import redis.asyncio as aioredis
from prometheus_client import Counter, Gauge

from actors._pool._pool import ActorPool
from actors.calendar import messages as m
from actors.calendar._store import HoldStore
from storage.audit import AuditActor
from storage.cache import BoundedCache
from storage.db import TenantPool
from storage.keys import KeySpace
from storage.scheduling import Appointment, GuestConsent, calendar_owner
from storage.types import Principal, Role

CALENDARS_LOADED = Gauge("cadence_calendars_loaded", "Calendars loaded in calendar shards")
LIVE_HOLDS = Gauge("cadence_live_holds", "Live holds in calendar shards")
EXPIRED = Gauge("cadence_holds_expired", "Holds expired by calendar shards (since their start)")
OFFERED = Gauge("cadence_waitlist_offers", "Freed slots offered to waitlists by calendar shards")
OUTCOMES = Counter("cadence_hold_commands_total", "Live calendar commands", ["command", "outcome"])
STATS_EVERY_S = 10.0
# Holds granted through this process whose calendar is known without a Redis read (a release or
# booking usually follows its hold within minutes, on the same server).
KNOWN_HOLDS = 50_000
KNOWN_HOLD_S = 3600.0
# Calendars whose organization (the shard key) this process knows; a calendar never moves.
KNOWN_CALENDARS = 100_000
KNOWN_CALENDAR_S = 86_400.0
# Appointments this process booked or changed, with their calendar: a status change names only
# the appointment, and the calendar picks its shard and live state. A move to another calendar
# through another process leaves an entry stale: the shard refuses a write naming the wrong
# calendar (it checks in its transaction) and the caller asks Postgres.
KNOWN_APPOINTMENTS = 100_000
KNOWN_APPOINTMENT_S = 3600.0


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
    def __init__(
        self, pool: ActorPool, redis: aioredis.Redis, keys: KeySpace, db: TenantPool
    ) -> None:
        self._pool = pool
        self._db = db
        self._store = HoldStore(redis, keys)
        self._owners: BoundedCache[uuid.UUID, uuid.UUID] = BoundedCache(
            "calendar_owners", KNOWN_CALENDARS
        )
        self._calendars: BoundedCache[uuid.UUID, uuid.UUID] = BoundedCache(
            "hold_calendars", KNOWN_HOLDS
        )
        # (organization, appointment) -> calendar: an entry answers its own organization only.
        self._appointments: BoundedCache[tuple[uuid.UUID, uuid.UUID], uuid.UUID] = BoundedCache(
            "appointment_calendars", KNOWN_APPOINTMENTS
        )
        self._stats: asyncio.Task[None] | None = None

    async def owner(self, calendar_id: uuid.UUID) -> uuid.UUID | None:
        """The calendar's organization (its shard key); None for no such calendar."""
        known = self._owners.get(calendar_id)
        if known is not None:
            return known
        async with self._db.acquire(timeout=5) as conn:
            org_id = await calendar_owner(conn, calendar_id)
        if org_id is not None:
            self._owners.put(calendar_id, org_id, time.monotonic() + KNOWN_CALENDAR_S)
        return org_id

    async def _owner_or_failure(self, calendar_id: uuid.UUID) -> uuid.UUID | m.Failure:
        try:
            org_id = await self.owner(calendar_id)
        except (asyncpg.PostgresError, OSError, TimeoutError):
            return m.UNAVAILABLE  # the database is down: a 503, as the shard would answer
        return m.not_found("calendar") if org_id is None else org_id

    async def _call(self, request: m.CalendarRequest) -> m.Result:
        org_id = await self._owner_or_failure(request.calendar_id)
        if isinstance(org_id, m.Failure):
            return org_id
        result: m.Result = await self._pool.call(org_id, request, idempotent=True)
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
        visit_reason: str | None = None,
        consent: GuestConsent | None = None,
    ) -> m.Result:
        calendar_id = await self._calendar_of(hold_id)
        if calendar_id is None:
            return _outcome("book", m.not_found("hold"))
        request = m.BookRequest(
            calendar_id, caller, hold_id, actor, patient_id, guest, visit_reason, consent
        )
        result = await self._call(request)
        if isinstance(result, m.Booked):
            self._remember((result.appointment,))
        return _outcome("book", result)

    def _remember(self, appointments: tuple[Appointment, ...]) -> None:
        until = time.monotonic() + KNOWN_APPOINTMENT_S
        for appt in appointments:
            self._appointments.put((appt.organization_id, appt.id), appt.calendar_id, until)

    def known_calendar(self, org_id: uuid.UUID, appointment_id: uuid.UUID) -> uuid.UUID | None:
        """The calendar this process last saw the organization's appointment in, if any."""
        return self._appointments.get((org_id, appointment_id))

    async def write(self, request: m.StaffWrite) -> m.Result:
        """A staff write that changes availability (reschedule, series, status change): the
        owning shard decides, commits and publishes it (m.StaffWrite). Not retried by the pool
        once it may have reached a shard: a retried write could apply twice."""
        org_id = await self._owner_or_failure(request.calendar_id)
        if isinstance(org_id, m.Failure):
            return org_id
        result: m.Result = await self._pool.call(org_id, request)
        if isinstance(result, m.Written):
            self._remember(result.appointments)
        return _outcome(type(request).__name__, result)

    async def edit_rules(self, request: m.RuleEdit) -> m.Result:
        """A rule edit (hours, overrides, specialists' profiles, services, calendar settings and
        members): the organization's shard writes it and applies it to its loaded calendars
        before answering (m.RuleEdit). An edit that sets values is retried across a shard
        restart (applied twice, it leaves the same rules); a deletion is not (a second one
        would answer 404)."""
        retry = not isinstance(request, m.DELETIONS)
        result: m.Result = await self._pool.call(request.organization_id, request, idempotent=retry)
        return _outcome(type(request).__name__, result)

    async def resources_changed(self, org_id: uuid.UUID) -> m.Result:
        """Rooms, equipment, locations or a service's requirements changed (committed): the
        organization's shard applies them to its live slots. Retried across a shard restart
        (applied twice, it reads the same rows)."""
        request = m.ResourcesChanged(org_id)
        result: m.Result = await self._pool.call(org_id, request, idempotent=True)
        return _outcome("ResourcesChanged", result)

    async def waitlist(self, request: m.WaitlistOp) -> m.Result:
        """A waitlist command (join, accept, decline, cancel): the organization's shard writes
        the entry together with the hold that offers it a slot. Not retried once it may have
        reached a shard (a join applied twice would queue the patient twice)."""
        result: m.Result = await self._pool.call(request.organization_id, request)
        return _outcome(type(request).__name__, result)

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
            OFFERED.set(sum(s.get("offered", 0) for s in stats))
