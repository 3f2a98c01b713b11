"""CalendarShard actors: each owns every calendar of many organizations (stable hash of the
organization id) and is their single writer: it decides holds against its live state, fences
them in Redis, expires them with its own timers, books them into Postgres, and publishes every
change of availability as one `slots.changed` delta per batch on `calendar:{id}`.

The unit of ownership is the organization because a specialist works on several calendars of
one organization: a hold or booking on one calendar takes the specialist's time on all of them.
The shard applies it to every loaded calendar sharing the specialist (foreign holds, foreign
bookings in their states) and publishes their deltas in the same batch, so no other calendar
keeps listing, or grants a hold on, time that is already taken (docs/architecture.md).

Per organization, everything runs under one lock in this order: time advances, due holds expire,
holds are decided and fenced (one Redis round trip for the batch), releases and bookings apply,
the net delta is published, then reads answer from the new state with the position of that
publish. So a snapshot always reflects exactly the stream position it carries (invariant 3).

On start (including a restart after kill -9) the shard rescans Redis for calendars with live
holds it owns and loads them, re-arming their expiry timers; every other calendar loads lazily on
first touch. Loading reconstructs what subscribers hold (checkpoint + the stream's deltas after
it) and publishes the difference to the rebuilt state, so a restart never leaves a silent gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import ray

from actors._pool._base import LazyPool, RebuildingActor
from actors._pool.sharding import shard_of
from actors.calendar import messages as m
from actors.calendar._book import book_hold, book_holds, interval_of
from actors.calendar._live import LiveCalendar, load_calendar, org_of
from actors.calendar._resources import ResourceBooks
from actors.calendar._rules import edit_rules
from actors.calendar._state import DeltaBuilder, Hold, HoldStatus
from actors.calendar._store import HoldStore, encode_slots
from actors.calendar._waitlist import entry_json, entry_of, matches, offer_hold, offered_json
from actors.calendar._writes import (
    failure_of,
    forced,
    held_conflicts,
    may_write,
    moved,
    spans_of,
    write_many,
)
from pipelines.availability import AssignmentError, SpecialistRequired
from storage import errors
from storage.crypto import KeyRing
from storage.db import AppDatabase
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis, run_scripts
from storage.scheduling import (
    BookedInterval,
    NotFound,
    WaitlistEntry,
    WaitlistStatus,
    accept_offer,
    cancel_entry,
    has_waiting,
    join_waitlist,
    offer_entry,
    pass_offer,
    waiting_for,
    waitlist_entry,
)
from storage.types import Channel

log = logging.getLogger("cadence.calendar")
TOMBSTONES = 20_000
DEFAULT_WINDOW = timedelta(days=7)
_ENTRY = "waitlist entry"
MAX_WINDOW = timedelta(days=62)


@dataclass(frozen=True, slots=True)
class ShardOptions:
    retention_s: int = 600
    maxlen: int = 100_000
    advance_every_s: float = 10.0  # publish time-driven slot changes at least this often
    checkpoint_every_s: float = 2.0
    idle_evict_s: float = 900.0
    max_calendars: int = 5_000
    # Seals a guest's e-mail and phone (storage/sealed.py); None stores them tagged as legacy
    # plaintext for the next `cadence keys rotate`.
    keys: KeyRing | None = field(default=None, repr=False)


def _now() -> datetime:
    return datetime.now(UTC)


def _no_edge(entry: WaitlistEntry, action: str) -> m.Failure:
    return failure_of(errors.InvalidTransition(_ENTRY, entry.status.value, action, []))


@dataclass
class _Batch:
    """One calendar's share of a batch: the requests and where their answers go."""

    indexes: list[int] = field(default_factory=list)
    requests: list[m.Request] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Tentative:
    """A hold decided and taken into the state, its fence not yet granted by Redis."""

    index: int  # of its request in the calendar's batch
    hold: Hold
    key: str  # the request's idempotency scope
    replaced: uuid.UUID | None  # the holder's earlier hold, which it ended


@ray.remote
class CalendarShard(RebuildingActor):
    def __init__(
        self,
        index: int,
        size: int,
        db: AppDatabase,
        redis_url: str,
        prefix: str,
        opts: ShardOptions,
    ) -> None:
        super().__init__(index, size)
        self._db = LazyPool(db, max_size=8)
        self._opts = opts
        self._redis = create_redis(redis_url)
        keys = KeySpace(prefix)
        self._events = EventLog(self._redis, keys, retention_s=opts.retention_s, maxlen=opts.maxlen)
        self._store = HoldStore(self._redis, keys)
        self._live: dict[uuid.UUID, LiveCalendar] = {}
        # Loaded calendars by organization, and the organization's lock (LiveCalendar.lock).
        self._orgs: dict[uuid.UUID, dict[uuid.UUID, LiveCalendar]] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = {}
        self._loading: dict[uuid.UUID, asyncio.Task[LiveCalendar]] = {}
        self._ended: OrderedDict[uuid.UUID, Hold] = OrderedDict()
        self._expiring: set[uuid.UUID] = set()
        # Whether an organization may have waiting entries (absent: not asked yet); set by
        # every entry that joins or waits again, all of which go through this shard.
        self._waiting: dict[uuid.UUID, bool] = {}
        # Rooms and equipment of the organizations whose services require them.
        self._resources = ResourceBooks()
        # "reloads": calendars re-read from Postgres after the database refused a booking (rule
        # edits are the shard's own: it applies what it committed, it never re-reads).
        self.stats_: dict[str, int] = {
            "expired": 0, "granted": 0, "published": 0, "batches": 0, "reloads": 0,
            "offered": 0,
        }  # fmt: skip

    # --- lifecycle (RebuildingActor: expiry timers are armed again right after a restart) ---

    async def _rebuild(self) -> None:
        try:
            gate = asyncio.Semaphore(4)

            async def one(calendar_id: uuid.UUID) -> None:
                async with gate:
                    with contextlib.suppress(Exception):
                        holds = await self._store.live_holds(calendar_id)
                        # Holds name their organization: the calendars of ours are ours.
                        if holds and shard_of(holds[0].organization_id, self.size) == self.index:
                            await self._get(calendar_id)

            await asyncio.gather(*(one(c) for c in await self._store.calendars_with_holds(_now())))
        except Exception as exc:  # Redis down at start: calendars still load lazily
            log.warning("calendar shard rebuild incomplete", extra={"error": repr(exc)})

    async def _after_rebuild(self) -> None:
        self._spawn(self._housekeeping())

    async def _get(self, calendar_id: uuid.UUID) -> LiveCalendar:
        """The calendar's live state, loading it once (concurrent callers share the load)."""
        live = self._live.get(calendar_id)
        if live is not None:
            return live
        task = self._loading.get(calendar_id)
        if task is None:
            task = self._loop.create_task(self._load(calendar_id))
            self._loading[calendar_id] = task
            task.add_done_callback(lambda _: self._loading.pop(calendar_id, None))
        return await asyncio.shield(task)

    def _lock(self, org_id: uuid.UUID) -> asyncio.Lock:
        lock = self._locks.get(org_id)
        if lock is None:
            lock = self._locks[org_id] = asyncio.Lock()
        return lock

    async def _load(self, calendar_id: uuid.UUID) -> LiveCalendar:
        pool = await self._db()
        org_id = await org_of(pool, calendar_id)
        lock = self._lock(org_id)
        async with lock:  # the siblings' holds cannot change while we read them
            siblings = self._orgs.get(org_id, {})
            foreign = [h for c in siblings.values() for h in c.state.holds.values()]
            live = await load_calendar(
                calendar_id, org_id, pool, self._store, self._events, _now(),
                lock=lock, foreign=foreign,
            )  # fmt: skip
            self._live[calendar_id] = live
            self._orgs.setdefault(org_id, {})[calendar_id] = live
            await self._resources.attach(pool, live, _now())
            # After a restart a calendar with holds may load after a sibling did: its holds
            # reach the siblings now.
            now = _now()
            for hold in live.state.holds.values():
                for other in self._siblings(live, hold.specialist_id):
                    other.state.add_foreign(hold, now, other.changed_by_sibling())
                calendars = self._orgs.get(org_id, {}).values()
                self._resources.hold_added(live, hold, calendars, now, None)
            await self._flush_siblings(org_id)
        for hold in list(live.state.holds.values()):
            self._arm(live, hold)
        self._evict_over_bound()
        return live

    # --- one organization: a change on one calendar reaches the others sharing a specialist ---

    def _siblings(self, live: LiveCalendar, specialist_id: uuid.UUID) -> list[LiveCalendar]:
        calendars = self._orgs.get(live.organization_id, {})
        return [
            c for c in calendars.values()
            if c is not live and specialist_id in c.members
        ]  # fmt: skip

    def _add_hold(self, live: LiveCalendar, hold: Hold, now: datetime, delta: DeltaBuilder) -> None:
        live.state.add_hold(hold, now, delta)
        for other in self._siblings(live, hold.specialist_id):
            other.state.add_foreign(hold, now, other.changed_by_sibling())
        calendars = self._orgs.get(live.organization_id, {}).values()
        self._resources.hold_added(live, hold, calendars, now, delta)

    def _drop_hold(
        self, live: LiveCalendar, hold_id: uuid.UUID, now: datetime, delta: DeltaBuilder
    ) -> Hold | None:
        hold = live.state.drop_hold(hold_id, now, delta)
        if hold is not None:
            for other in self._siblings(live, hold.specialist_id):
                other.state.drop_foreign(hold.id, now, other.changed_by_sibling())
            calendars = self._orgs.get(live.organization_id, {}).values()
            self._resources.hold_dropped(live, hold.id, calendars, now, delta)
        return hold

    def _add_booking(
        self, live: LiveCalendar, booked: BookedInterval, now: datetime, delta: DeltaBuilder
    ) -> None:
        live.state.add_booking(booked, now, delta)
        for other in self._siblings(live, booked.specialist_id):
            other.state.add_booking(booked, now, other.changed_by_sibling(), own=False)

    def _foreign_of(self, live: LiveCalendar) -> dict[uuid.UUID, Hold]:
        calendars = self._orgs.get(live.organization_id, {})
        return {
            h.id: h for c in calendars.values() if c is not live for h in c.state.holds.values()
        }

    def _drop_booking(
        self, live: LiveCalendar, appointment_id: uuid.UUID, now: datetime, delta: DeltaBuilder
    ) -> None:
        for other in list(self._orgs.get(live.organization_id, {}).values()):
            if appointment_id in other.state.booked:
                mine = other is live
                changes = delta if mine else other.changed_by_sibling()
                other.state.drop_booking(appointment_id, now, changes, own=mine)

    async def _flush_siblings(self, org_id: uuid.UUID) -> None:
        """Publish what this batch changed on the organization's other calendars."""
        for other in list(self._orgs.get(org_id, {}).values()):
            if other.pending is None:
                continue
            try:
                await self._publish(other, DeltaBuilder())
            except Exception as exc:  # kept as `unpublished`: the next publish carries it
                log.warning("calendar publish failed", extra={"error": repr(exc)})

    # --- the batch entry point -------------------------------------------------------------

    async def handle_batch(self, requests: list[m.Request]) -> list[m.Result]:
        self.stats_["batches"] += 1
        by_calendar: dict[uuid.UUID, _Batch] = {}
        edits: list[tuple[int, m.OrganizationRequest]] = []
        for i, req in enumerate(requests):
            if isinstance(req, m.ORGANIZATION_REQUESTS):
                edits.append((i, req))
                continue
            part = by_calendar.setdefault(req.calendar_id, _Batch())
            part.indexes.append(i)
            part.requests.append(req)
        results: list[m.Result] = [m.UNAVAILABLE] * len(requests)

        async def serve(calendar_id: uuid.UUID, part: _Batch) -> None:
            try:
                answers = await self._serve(calendar_id, part.requests)
            except NotFound:  # deleted (or never existed): forget it if it was loaded
                answers = [m.not_found("calendar")] * len(part.requests)
                live = self._live.get(calendar_id)
                if live is not None:
                    self._drop(live)
            except Exception as exc:  # Redis/Postgres trouble: this calendar's requests only
                log.warning("calendar batch failed", extra={"error": repr(exc)})
                answers = [m.UNAVAILABLE] * len(part.requests)
            for i, answer in zip(part.indexes, answers, strict=True):
                results[i] = answer

        async def edit() -> None:
            for i, r in edits:  # in order: two edits of one week must not swap
                try:
                    if isinstance(r, m.JoinWaitlist | m.WaitlistCommand):
                        results[i] = await self._waitlist_op(r)
                    elif isinstance(r, m.ResourcesChanged):
                        results[i] = await self._resources_changed(r.organization_id)
                    else:
                        results[i] = await self._edit_rules(r)
                except Exception as exc:
                    # With its traceback: a Ray worker's log has no field for `extra`.
                    log.warning("calendar organization request failed", exc_info=exc)

        await asyncio.gather(*(serve(c, p) for c, p in by_calendar.items()), edit())
        return results

    async def _serve(self, calendar_id: uuid.UUID, requests: list[m.Request]) -> list[m.Result]:
        live = await self._get(calendar_id)
        out: list[m.Result | None] = [None] * len(requests)
        async with live.lock:
            live.touched = time.monotonic()
            now = _now()
            delta = DeltaBuilder()
            live.state.advance(now, delta)
            ended = self._expire_due(live, now, delta)
            await self._writes(live, requests, out, now, delta)
            # What expiry and staff writes freed is offered before this batch's holds are
            # decided: none of them can take a slot the waitlist is owed.
            await self._offer_freed(live, now, delta, ended)
            offered = len(ended)
            tentative = await self._holds(live, requests, out, now, delta, ended)
            await self._releases(live, requests, out, now, delta, ended)
            await self._bookings(live, requests, out, delta, ended)
            calendars = self._orgs.get(live.organization_id, {}).values()
            await self._resources.after_writes(
                await self._db(), live, calendars, requests, now, delta
            )
            await self._offer_freed(live, now, delta, ended[offered:])
            try:
                granted = await self._publish(live, delta, ended, tentative, now)
            except BaseException:
                self._abandon(live, tentative, now)
                raise
            undo = self._granted(live, requests, out, tentative, granted, now)
            if not all(granted):  # a refused fence: its slot is given back at once
                await self._publish(live, undo)
            await self._flush_siblings(live.organization_id)
            for i, r in enumerate(requests):
                if isinstance(r, m.SlotsQuery):
                    out[i] = self._slots(live, r)
        return [r if r is not None else m.UNAVAILABLE for r in out]

    # --- rule edits ------------------------------------------------------------------------

    async def _edit_rules(self, r: m.RuleEdit) -> m.Result:
        """Write the edit, then apply the rules it committed to every loaded calendar it
        touches and publish their slot changes, all under the organization's lock: no hold is
        decided against the old rules once the edit is acknowledged, and nothing reloads."""
        if not (r.caller.staff and r.caller.org_id == r.organization_id):
            return m.not_found("specialist")
        org_id = r.organization_id
        pool = await self._db()
        async with self._lock(org_id):
            now = _now()
            loaded = self._orgs.get(org_id, {})
            try:
                async with pool.tenant(org_id, acquire_timeout=5) as conn:
                    edited, snaps = await edit_rules(conn, r, set(loaded), now)
            except Exception as exc:
                return failure_of(exc)
            if isinstance(r, m.DeleteCalendar) and r.calendar_id in loaded:
                self._forget(loaded[r.calendar_id], now)
            for calendar_id, snap in snaps.items():
                live = loaded.get(calendar_id)
                if live is None:  # dropped meanwhile (found deleted): nothing to apply
                    continue
                delta = DeltaBuilder()
                live.state.foreign = self._foreign_of(live)  # membership may have changed
                live.state.replace_snapshot(snap, now, delta, rules=True)
                live.grid.clear()
                try:
                    await self._offer_freed(live, now, delta, [])  # new hours free slots
                    await self._publish(live, delta)
                except Exception as exc:  # kept as `unpublished`: the next publish carries it
                    log.warning("calendar publish failed", extra={"error": repr(exc)})
            # Weekly hours name locations; a service's duration shapes what its room holds.
            await self._resources.refresh(pool, org_id, loaded.values(), now)
            await self._flush_siblings(org_id)
        return edited

    async def _resources_changed(self, org_id: uuid.UUID) -> m.Result:
        """Rooms, equipment, locations or requirements changed (committed over REST): read
        them again, recompute the loaded calendars they shape, publish, offer what was freed."""
        async with self._lock(org_id):
            now = _now()
            loaded = list(self._orgs.get(org_id, {}).values())
            changed = await self._resources.refresh(await self._db(), org_id, loaded, now)
            if loaded:
                await self._offer_freed(loaded[0], now, DeltaBuilder(), [])
            await self._flush_siblings(org_id)
        return m.ResourcesApplied(changed)

    def _forget(self, live: LiveCalendar, now: datetime) -> None:
        """A deleted calendar: its holds end (and free their time on the other calendars)."""
        for hold in list(live.state.holds.values()):
            self._drop_hold(live, hold.id, now, DeltaBuilder())
            self._spawn(self._store.end([self._finish(live, hold, HoldStatus.RELEASED)]))
        self._drop(live)

    # --- reads -----------------------------------------------------------------------------

    def _visible(self, live: LiveCalendar, caller: m.Caller) -> bool:
        if caller.public:
            same_org = caller.org_id is None or caller.org_id == live.organization_id
            return live.public and live.active and same_org
        return caller.org_id == live.organization_id

    def _slots(self, live: LiveCalendar, q: m.SlotsQuery) -> m.Result:
        if not self._visible(live, q.caller):
            return m.not_found("calendar")
        zone = ZoneInfo(live.state.calendar.timezone)

        def bound(value: datetime | date | None, end: bool) -> datetime | None:
            if value is None or isinstance(value, datetime):
                return value
            return datetime.combine(value + timedelta(days=1 if end else 0), dtime(0), zone)

        start = bound(q.start, False) or _now()
        stop = bound(q.end, True) or start + DEFAULT_WINDOW
        if stop <= start:
            return m.invalid("to", "must be after from")
        if stop - start > MAX_WINDOW:
            return m.invalid("to", f"the window may span at most {MAX_WINDOW.days} days")
        return m.SlotsView(
            live.calendar_id, live.state.calendar.timezone, live.position,
            live.state.view(start, stop),
        )  # fmt: skip

    # --- holds -----------------------------------------------------------------------------

    async def _holds(
        self, live: LiveCalendar, requests: Sequence[m.Request], out: list[m.Result | None],
        now: datetime, delta: DeltaBuilder, ended: list[Hold],
    ) -> list[_Tentative]:  # fmt: skip
        """Decide the batch's hold requests against the state and take them into it; their
        fences are granted with the batch's publish, in its round trip (`_granted` settles
        them). A hold replacing its holder's earlier one ends that one at once: should the new
        fence be refused (only another incarnation of this shard can hold it), the holder has
        neither, and is told the slot was taken."""
        asks = [(i, r) for i, r in enumerate(requests) if isinstance(r, m.HoldRequest)]
        if not asks:
            return []
        repeats = [r.idempotency_key for _, r in asks if r.may_repeat]
        remembered = dict(zip(repeats, await self._store.remembered(repeats), strict=True))
        tentative: list[_Tentative] = []
        for i, r in asks:
            earlier = remembered.get(r.idempotency_key)
            if earlier is not None:
                out[i] = m.HoldGranted(earlier)
                continue
            if any(t.key == r.idempotency_key for t in tentative):
                continue  # the same retried request twice in one batch: `_granted` answers it
            decided = self._decide(live, r, now)
            if isinstance(decided, m.Failure):
                out[i] = decided
                continue
            previous = live.state.holder_hold(r.caller.holder)
            replaced = None
            if previous is not None and previous.id in live.state.holds:
                self._drop_hold(live, previous.id, now, delta)
                ended.append(self._finish(live, previous, HoldStatus.RELEASED))
                replaced = previous.id
            self._add_hold(live, decided, now, delta)
            tentative.append(_Tentative(i, decided, r.idempotency_key, replaced))
        return tentative

    def _granted(
        self, live: LiveCalendar, requests: Sequence[m.Request], out: list[m.Result | None],
        tentative: Sequence[_Tentative], granted: Sequence[bool], now: datetime,
    ) -> DeltaBuilder:  # fmt: skip
        """Answer the batch's holds as Redis granted their fences; a refused one leaves the
        state again, and the returned delta (published by the caller) gives its slot back."""
        undo = DeltaBuilder()
        for t, ok in zip(tentative, granted, strict=True):
            if not ok:  # another incarnation holds the fence: its hold stands, ours never was
                if t.hold.id in live.state.holds:
                    self._drop_hold(live, t.hold.id, now, undo)
                out[t.index] = m.slot_unavailable("the slot was just taken")
                continue
            self.stats_["granted"] += 1
            if t.hold.id in live.state.holds:  # not replaced by a later request of the batch
                self._arm(live, t.hold)
            out[t.index] = m.HoldGranted(t.hold, t.replaced)
        for t in tentative:  # duplicates within the batch share the first answer
            for j, r in enumerate(requests):
                if isinstance(r, m.HoldRequest) and r.idempotency_key == t.key and out[j] is None:
                    out[j] = out[t.index]
        return undo

    async def _writes(
        self, live: LiveCalendar, requests: Sequence[m.Request], out: list[m.Result | None],
        now: datetime, delta: DeltaBuilder,
    ) -> None:  # fmt: skip
        """Staff writes outside holds (actors/calendar/_writes.py): decided against the live
        holds, committed, and applied to every calendar sharing the specialist before the
        answer, so the state is never behind Postgres once a write is acknowledged. The
        batch's writes share one transaction (`write_many`: each in its savepoint)."""
        todo: list[tuple[int, m.StaffWrite]] = []
        for i, r in enumerate(requests):
            if not isinstance(
                r, m.RescheduleAppointment | m.BookSeries | m.WalkIn | m.ChangeStatus
            ):
                continue
            if not may_write(r, live.organization_id):
                out[i] = m.not_found("calendar")
                continue
            conflicts = held_conflicts(live.state, spans_of(r))
            if conflicts and not forced(r):
                out[i] = m.slot_unavailable(
                    "a patient is holding this time", {"conflicts": conflicts}
                )
                continue
            todo.append((i, r))
        answers = await write_many(
            await self._db(), live.organization_id, [r for _, r in todo], self._opts.keys
        )
        for (i, _), answer in zip(todo, answers, strict=True):
            out[i] = answer
            if not isinstance(answer, m.Written):
                continue
            befores = {b.id: b for b in answer.previous}
            for appt in answer.appointments:
                was = befores.get(appt.id)
                if was is not None and not moved(was, appt):
                    continue  # a confirm or check-in: the same time stays taken
                if was is not None and was.status.holds_time:
                    self._drop_booking(live, was.id, now, delta)
                if appt.status.holds_time:
                    self._add_booking(live, interval_of(appt), now, delta)

    def _decide(self, live: LiveCalendar, r: m.HoldRequest, now: datetime) -> Hold | m.Failure:
        if not self._visible(live, r.caller):
            return m.not_found("calendar")
        slot = live.state.slot_at(r.start)
        if slot is None:
            if self._was_slot(live, r.start, now):
                return m.slot_unavailable("the slot is taken")
            return m.invalid("start", "is not a slot of this calendar")
        try:
            specialist = live.state.choose(slot, r.specialist_id)
        except SpecialistRequired:
            return m.invalid("specialist_id", "this calendar lets the patient choose; name one")
        except AssignmentError:
            return m.slot_unavailable("the specialist cannot take this slot")
        hold = Hold(
            id=uuid.uuid4(), calendar_id=live.calendar_id,
            organization_id=live.organization_id, specialist_id=specialist,
            # On a whole second: the API shows `expires_at` to the second, and the hold must
            # end when it says, not up to a second after.
            start=slot.start, end=slot.end,
            expires_at=(now + live.hold_ttl).replace(microsecond=0),
            holder=r.caller.holder, public=r.caller.org_id is None,
            seat=live.state.free_seat(specialist, slot.start) if live.state.group else None,
        )  # fmt: skip
        if not self._resources.may_hold(live, hold):
            return m.slot_unavailable("a room or piece of equipment it needs was just taken")
        return hold

    @staticmethod
    def _was_slot(live: LiveCalendar, start: datetime, now: datetime) -> bool:
        """Whether `start` is on the grid of a free calendar (taken now), vs. not a slot at all."""
        return live.free_slot_at(start, now)

    # --- releases and expiry ---------------------------------------------------------------

    async def _releases(
        self, live: LiveCalendar, requests: Sequence[m.Request], out: list[m.Result | None],
        now: datetime, delta: DeltaBuilder, ended: list[Hold],
    ) -> None:  # fmt: skip
        for i, r in enumerate(requests):
            if not isinstance(r, m.ReleaseRequest):
                continue
            hold = live.state.holds.get(r.hold_id)
            if hold is None:
                out[i] = await self._release_gone(live, r)
                continue
            if not self._may_touch(live, hold, r.caller):
                out[i] = m.not_found("hold")
                continue
            self._drop_hold(live, hold.id, now, delta)
            ended.append(self._finish(live, hold, HoldStatus.RELEASED))
            out[i] = m.Released(hold.id)

    async def _release_gone(self, live: LiveCalendar, r: m.ReleaseRequest) -> m.Result:
        hold = await self._ended_hold(r.hold_id)
        if hold is None or hold.calendar_id != live.calendar_id:
            return m.not_found("hold")
        if not self._may_touch(live, hold, r.caller):
            return m.not_found("hold")
        if hold.status is HoldStatus.BOOKED:
            return m.Failure(409, "hold_booked", "the hold became an appointment; cancel that")
        return m.Released(hold.id)  # released or expired already: releasing again is a no-op

    @staticmethod
    def _may_touch(live: LiveCalendar, hold: Hold, caller: m.Caller) -> bool:
        if caller.staff and caller.org_id == hold.organization_id:
            return True
        return caller.holds(hold)

    def _expire_due(self, live: LiveCalendar, now: datetime, delta: DeltaBuilder) -> list[Hold]:
        ended = []
        for hold in live.state.expired(now):
            self._drop_hold(live, hold.id, now, delta)
            ended.append(self._finish(live, hold, HoldStatus.EXPIRED))
            self.stats_["expired"] += 1
        return ended

    def _finish(self, live: LiveCalendar, hold: Hold, status: HoldStatus) -> Hold:
        done = hold.to(status)
        timer = live.timers.pop(hold.id, None)
        if timer is not None:
            timer.cancel()
        self._ended[hold.id] = done
        while len(self._ended) > TOMBSTONES:
            self._ended.popitem(last=False)
        return done

    async def _ended_hold(self, hold_id: uuid.UUID) -> Hold | None:
        hold = self._ended.get(hold_id)
        return hold if hold is not None else await self._store.lookup(hold_id)

    def _arm(self, live: LiveCalendar, hold: Hold) -> None:
        delay = max(0.0, (hold.expires_at - _now()).total_seconds())
        live.timers[hold.id] = self._loop.call_later(delay, self._due, live.calendar_id)

    def _due(self, calendar_id: uuid.UUID) -> None:
        # Coalesced: holds expiring together cost one lock, one Redis round trip, one publish.
        if calendar_id not in self._expiring:
            self._expiring.add(calendar_id)
            self._spawn(self._expire(calendar_id))

    async def _expire(self, calendar_id: uuid.UUID) -> None:
        self._expiring.discard(calendar_id)
        live = self._live.get(calendar_id)
        if live is None:
            return
        try:
            async with live.lock:
                now = _now()
                delta = DeltaBuilder()
                ended = self._expire_due(live, now, delta)
                await self._offer_freed(live, now, delta, ended)
                await self._publish(live, delta, ended)
                await self._flush_siblings(live.organization_id)
        except Exception as exc:  # retried by the next touch or housekeeping pass
            log.warning("hold expiry failed", extra={"error": repr(exc)})
            self._loop.call_later(0.5, self._due, calendar_id)

    # --- bookings --------------------------------------------------------------------------

    async def _bookings(
        self, live: LiveCalendar, requests: Sequence[m.Request], out: list[m.Result | None],
        delta: DeltaBuilder, ended: list[Hold],
    ) -> None:  # fmt: skip
        todo: list[tuple[int, Hold, m.BookRequest]] = []
        first: dict[uuid.UUID, int] = {}  # hold -> the index of the batch's first booking of it
        repeats: list[int] = []
        for i, r in enumerate(requests):
            if not isinstance(r, m.BookRequest):
                continue
            if r.hold_id in first:  # a retry in the same batch: answered once the first is
                repeats.append(i)
                continue
            hold = live.state.holds.get(r.hold_id)
            if hold is None:
                out[i] = await self._book_gone(live, r)
                continue
            if not self._may_book(live, hold, r.caller, r.patient_id):
                out[i] = m.not_found("hold")
                continue
            now = _now()
            if not hold.live(now):
                self._drop_hold(live, hold.id, now, delta)
                ended.append(self._finish(live, hold, HoldStatus.EXPIRED))
                out[i] = m.HOLD_EXPIRED
                continue
            first[hold.id] = i
            todo.append((i, hold, r))
        # One transaction for the batch's bookings (actors/calendar/_book.py), each row alone
        # in its savepoint: a busy calendar commits its bookings together.
        answers = await book_holds(
            await self._db(), [(h, r) for _, h, r in todo], self._opts.keys,
            group=live.state.group,
        )  # fmt: skip
        now = _now()
        for (i, hold, _), (answer, interval) in zip(todo, answers, strict=True):
            out[i] = answer
            if interval is not None:
                self._drop_hold(live, hold.id, now, delta)
                self._add_booking(live, interval, now, delta)
                ended.append(self._finish(live, hold, HoldStatus.BOOKED))
            elif isinstance(answer, m.Failure) and answer.status == 409:
                live.stale = True  # the database knows something we do not: reload soon
        for i in repeats:  # booked meanwhile: the retry's answer; else the first one's
            r = requests[i]
            assert isinstance(r, m.BookRequest)
            held = live.state.holds.get(r.hold_id)
            if held is None:
                out[i] = await self._book_gone(live, r)
            elif self._may_book(live, held, r.caller, r.patient_id):
                out[i] = out[first[r.hold_id]]
            else:
                out[i] = m.not_found("hold")

    async def _book_gone(self, live: LiveCalendar, r: m.BookRequest) -> m.Result:
        hold = await self._ended_hold(r.hold_id)
        if hold is None or hold.calendar_id != live.calendar_id:
            return m.not_found("hold")
        if not self._may_book(live, hold, r.caller, r.patient_id):
            return m.not_found("hold")
        if hold.status is HoldStatus.BOOKED:  # a retry: answer with the appointment it became
            answer, _ = await book_hold(await self._db(), hold, r, self._opts.keys)
            return answer
        return m.HOLD_EXPIRED

    @staticmethod
    def _may_book(
        live: LiveCalendar, hold: Hold, caller: m.Caller, patient_id: uuid.UUID | None
    ) -> bool:
        if caller.staff:
            return caller.org_id == hold.organization_id
        if caller.org_id is None:  # the public API: the hold token's digest is the holder
            return hold.public and caller.holds(hold)
        return caller.holds(hold) and patient_id == caller.patient_id

    # --- the waitlist (actors/calendar/_waitlist.py) ------------------------------------------

    async def _offer_freed(
        self, live: LiveCalendar, now: datetime, delta: DeltaBuilder, ended: list[Hold]
    ) -> None:
        """Offers that ended unbooked pass their entries on; then every slot this batch freed
        on the organization's calendars goes to the first eligible waiting entry as a hold,
        before the batch publishes (so the slot never shows as free). Runs under the
        organization's lock; a failure here never fails the batch."""
        org = live.organization_id
        try:
            passed = [
                h for h in ended
                if entry_of(h) is not None and h.status is not HoldStatus.BOOKED
            ]  # fmt: skip
            if passed:
                await self._pass_offers(org, passed)
            freed: list[tuple[LiveCalendar, list[Any]]] = []
            for c in list(self._orgs.get(org, {}).values()):
                found: dict[datetime, Any] = {}
                for changes in (c.pending, delta if c is live else None):
                    if changes is not None:
                        found.update((s.start, s) for s in changes.freed(c.state.slots))
                if found:
                    freed.append((c, sorted(found.values(), key=lambda s: s.start)))
            if not freed or not await self._may_wait(org):
                return
            # The fences of the holds that just ended are freed with the publish, after this;
            # an offer of their time needs them now (ending twice is harmless).
            await self._store.end(ended)
            pool = await self._db()
            for c, slots in freed:
                async with pool.tenant(org, acquire_timeout=5):
                    entries = await waiting_for(c.calendar_id, c.state.snap.service_id, now)
                for slot, entry, sid in matches(c.state, slots, entries):
                    current = c.state.slot_at(slot.start)
                    if current is None or sid not in current.specialist_ids:
                        continue  # taken by an earlier offer of this batch
                    changes = delta if c is live else c.changed_by_sibling()
                    await self._offer(c, current, entry, sid, now, changes)
        except Exception as exc:
            log.warning("waitlist offer failed", extra={"error": repr(exc)})

    async def _may_wait(self, org: uuid.UUID) -> bool:
        known = self._waiting.get(org)
        if known is None:
            pool = await self._db()
            async with pool.tenant(org, acquire_timeout=5):
                known = self._waiting[org] = await has_waiting()
        return known

    async def _offer(
        self, live: LiveCalendar, slot: Any, entry: WaitlistEntry, specialist_id: uuid.UUID,
        now: datetime, delta: DeltaBuilder,
    ) -> None:  # fmt: skip
        hold = offer_hold(live.state, slot, entry, specialist_id, now, live.hold_ttl)
        self._add_hold(live, hold, now, delta)
        if not (await self._store.grant([(hold, f"waitlist:{hold.id}")], now))[0]:
            self._drop_hold(live, hold.id, now, delta)
            return
        try:
            async with (await self._db()).tenant(org_id := live.organization_id) as conn:
                offered = await offer_entry(
                    conn, entry, hold_id=hold.id, calendar_id=live.calendar_id,
                    service_id=live.state.snap.service_id, specialist_id=specialist_id,
                    starts_at=hold.start, ends_at=hold.end, expires_at=hold.expires_at,
                )  # fmt: skip
        except Exception as exc:  # offered elsewhere meanwhile, or the database is away
            self._drop_hold(live, hold.id, now, delta)
            await self._store.end([self._finish(live, hold, HoldStatus.RELEASED)])
            if not isinstance(exc, NotFound):
                log.warning("waitlist offer not recorded", extra={"error": repr(exc)})
            return
        self._arm(live, hold)
        self.stats_["offered"] += 1
        await self._announce(org_id, offered)

    async def _pass_offers(self, org: uuid.UUID, holds: Sequence[Hold]) -> None:
        """Offers that expired (or staff released): their entries wait again, passing the slot
        on (the entry never gets it again)."""
        changed = []
        async with (await self._db()).tenant(org, acquire_timeout=5):
            for hold in holds:
                entry_id = entry_of(hold)
                assert entry_id is not None
                try:
                    entry = await waitlist_entry(entry_id)
                except NotFound:
                    continue
                if entry.status is WaitlistStatus.OFFERED and entry.offer_hold_id == hold.id:
                    changed.append(await pass_offer(entry))
        self._waiting[org] = True
        for entry in changed:
            await self._announce(org, entry)

    async def _announce(self, org: uuid.UUID, entry: WaitlistEntry) -> None:
        """The entry's new state to the staff channel; an offer to the patient too."""
        staff = Channel.org(org).name
        frames: list[tuple[Any, str, dict[str, Any]]] = [
            (staff, "waitlist.updated", entry_json(entry))
        ]
        if entry.status is WaitlistStatus.OFFERED:
            offer = offered_json(entry)
            frames.append((Channel.patient(entry.patient_id).name, "waitlist.offered", offer))
            frames.append(
                (staff, "waitlist.offered", {**offer, "patient_id": str(entry.patient_id)})
            )
        try:
            await self._events.publish_many(frames)
        except Exception as exc:  # the entry's state is in Postgres; GET shows it
            log.warning("waitlist publish failed", extra={"error": repr(exc)})

    async def _waitlist_op(self, r: m.WaitlistOp) -> m.Result:
        """Join, accept, decline or cancel, under the organization's lock: an accepted offer is
        booked from its hold; a declined or cancelled one frees the slot for the next entry in
        the same step."""
        org, caller = r.organization_id, r.caller
        if caller.org_id != org or not (caller.staff or caller.role == "patient"):
            return m.not_found("waitlist entry")
        own = None if caller.staff else caller.patient_id
        pool = await self._db()
        if isinstance(r, m.JoinWaitlist):
            if own is not None and own != r.patient_id:
                return m.not_found("patient")
            async with self._lock(org):
                try:
                    async with pool.tenant(org, acquire_timeout=5):
                        entry = await join_waitlist(
                            organization_id=org, patient_id=r.patient_id,
                            calendar_id=r.calendar_id, service_id=r.service_id,
                            specialist_id=r.specialist_id, window_from=r.window_from,
                            window_to=r.window_to, priority=r.priority, note=r.note,
                            created_by=r.actor.user_id, now=_now(),
                        )  # fmt: skip
                except Exception as exc:
                    return failure_of(exc)
                self._waiting[org] = True
            await self._announce(org, entry)
            return m.WaitlistChanged(entry)
        try:
            async with pool.tenant(org, acquire_timeout=5):
                entry = await waitlist_entry(r.entry_id, patient_id=own)
        except Exception as exc:
            return failure_of(exc)
        live = None
        if entry.offer_calendar_id is not None:
            with contextlib.suppress(NotFound):  # deleted since: its holds (the offer) are gone
                live = await self._get(entry.offer_calendar_id)
        async with self._lock(org):
            now = _now()
            delta = DeltaBuilder()
            ended = [] if live is None else self._expire_due(live, now, delta)
            try:
                answer = await self._waitlist_act(r, own, live, now, delta, ended)
            except Exception as exc:
                answer = failure_of(exc)
            if live is not None:
                await self._offer_freed(live, now, delta, ended)
                await self._publish(live, delta, ended)
                await self._flush_siblings(org)
        if isinstance(answer, m.WaitlistChanged):
            await self._announce(org, answer.entry)
        return answer

    async def _waitlist_act(
        self, r: m.WaitlistCommand, own: uuid.UUID | None, live: LiveCalendar | None,
        now: datetime, delta: DeltaBuilder, ended: list[Hold],
    ) -> m.Result:  # fmt: skip
        pool = await self._db()
        async with pool.tenant(r.organization_id, acquire_timeout=5):
            entry = await waitlist_entry(r.entry_id, patient_id=own)
        offered = entry.status is WaitlistStatus.OFFERED
        hold = None
        if live is not None and offered and entry.offer_hold_id is not None:
            hold = live.state.holds.get(entry.offer_hold_id)
        if r.action == "accept":
            if entry.status is WaitlistStatus.WAITING or (offered and hold is None):
                return m.OFFER_EXPIRED  # it expired (and passed on), or is passing now
            if not offered or hold is None or live is None:
                return failure_of(
                    errors.InvalidTransition(_ENTRY, entry.status.value, "accept", [])
                )
            if not hold.live(now):
                return m.OFFER_EXPIRED
            booked: list[WaitlistEntry] = []

            async def after(conn: Any, appt: Any) -> None:
                booked.append(await accept_offer(entry, appt.id))

            request = m.BookRequest(hold.calendar_id, r.caller, hold.id, r.actor, entry.patient_id)
            answer, interval = await book_hold(
                pool, hold, request, self._opts.keys, group=live.state.group, after=after
            )
            if interval is None or not isinstance(answer, m.Booked) or not booked:
                return answer
            self._drop_hold(live, hold.id, now, delta)
            self._add_booking(live, interval, now, delta)
            ended.append(self._finish(live, hold, HoldStatus.BOOKED))
            return m.WaitlistChanged(booked[0], answer.appointment)
        async with pool.tenant(r.organization_id, acquire_timeout=5):
            if r.action == "decline":
                if not offered:
                    return failure_of(
                        errors.InvalidTransition(_ENTRY, entry.status.value, "decline", [])
                    )
                after_entry = await pass_offer(entry)
            else:
                after_entry = await cancel_entry(entry)
        if hold is not None and live is not None:
            self._drop_hold(live, hold.id, now, delta)
            ended.append(self._finish(live, hold, HoldStatus.RELEASED))
        self._waiting[r.organization_id] = True
        return m.WaitlistChanged(after_entry)

    # --- publishing and housekeeping -------------------------------------------------------

    async def _publish(
        self, live: LiveCalendar, delta: DeltaBuilder, ended: Sequence[Hold] = (),
        tentative: Sequence[_Tentative] = (), now: datetime | None = None,
    ) -> list[bool]:  # fmt: skip
        """Publish the delta. The final records of the `ended` holds (freeing their fences), the
        fences of the `tentative` holds, then the ends of tentative holds a later request of
        the batch replaced, go to Redis in the same round trip, ahead of it: one round trip for
        a batch of holds. Whether each tentative fence was granted."""
        fresh = {t.hold.id for t in tentative}
        before = [h for h in ended if h.id not in fresh]  # their time may be granted again now
        along = [
            *self._store.end_calls(before),
            *self._store.grant_calls([(t.hold, t.key) for t in tentative], now or _now()),
            *self._store.end_calls([h for h in ended if h.id in fresh]),
        ]
        results = await live.publish(self._events, delta, along)
        if results is None:  # no slot changed: the scripts still have to run
            results = await run_scripts(self._redis, along)
        else:
            self.stats_["published"] += 1
        granted = results[len(before) : len(before) + len(tentative)]
        return [bool(r) for r in granted]

    def _abandon(self, live: LiveCalendar, tentative: Sequence[_Tentative], now: datetime) -> None:
        """The round trip that grants them failed: the batch's holds leave the state (its
        answer is 503), and whatever fences did reach Redis are ended if it answers again."""
        undone = []
        for t in tentative:
            if t.hold.id in live.state.holds:
                # Into `pending`: the failed publish kept the hold's removal as `unpublished`,
                # and the next publish merges both (net: nothing happened to the slot).
                self._drop_hold(live, t.hold.id, now, live.changed_by_sibling())
                undone.append(self._finish(live, t.hold, HoldStatus.RELEASED))
        if undone:
            self._spawn(self._store.end(undone))

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for live in list(self._live.values()):
                try:
                    await self._tend(live)
                except NotFound:
                    self._drop(live)
                except Exception as exc:
                    log.warning("calendar housekeeping failed", extra={"error": repr(exc)})

    async def _tend(self, live: LiveCalendar) -> None:
        mono = time.monotonic()
        idle = not live.state.holds and mono - live.touched > self._opts.idle_evict_s
        # Only after the database refused what we believed free (nothing writes these calendars'
        # availability but this shard, so there is no drift to reload on a timer).
        refresh = live.stale
        advance = mono - live.advanced > self._opts.advance_every_s
        checkpoint = live.dirty and mono - live.checkpointed > self._opts.checkpoint_every_s
        if not (idle or refresh or advance or checkpoint):
            return
        async with live.lock:
            now = _now()
            delta = DeltaBuilder()
            live.state.advance(now, delta)
            live.advanced = mono
            ended = self._expire_due(live, now, delta)
            if refresh:
                await live.reload(await self._db(), now, delta, rules=False)
                self.stats_["reloads"] += 1
            await self._offer_freed(live, now, delta, ended)
            await self._publish(live, delta, ended)
            await self._flush_siblings(live.organization_id)
            if live.dirty and (idle or mono - live.checkpointed > self._opts.checkpoint_every_s):
                await live.save_checkpoint(self._store)
            if idle and not live.state.holds:
                self._drop(live)

    def _drop(self, live: LiveCalendar) -> None:
        for timer in live.timers.values():
            timer.cancel()
        self._resources.forget(live.calendar_id, live.organization_id)
        self._live.pop(live.calendar_id, None)
        calendars = self._orgs.get(live.organization_id)
        if calendars is not None:
            calendars.pop(live.calendar_id, None)
            if not calendars:  # the lock stays: a load of this organization may wait on it
                del self._orgs[live.organization_id]

    def _evict_over_bound(self) -> None:
        if len(self._live) <= self._opts.max_calendars:
            return
        idle = sorted(
            (c for c in self._live.values() if not c.state.holds and not c.lock.locked()),
            key=lambda c: c.touched,
        )
        for live in idle[: len(self._live) - self._opts.max_calendars]:
            if not live.dirty:
                self._drop(live)

    async def stats(self) -> dict[str, int]:
        return {
            **self.stats_,
            "calendars": len(self._live),
            "live_holds": sum(len(c.state.holds) for c in self._live.values()),
        }

    async def debug_state(self, calendar_id: str) -> dict[str, Any]:
        """Tests: the shard's current slot list and position for a calendar."""
        live = await self._get(uuid.UUID(calendar_id))
        async with live.lock:
            return {
                "position": live.position,
                "slots": encode_slots(live.state.slot_list()),  # the checkpoint's form
                "holds": [str(h) for h in live.state.holds],
            }
