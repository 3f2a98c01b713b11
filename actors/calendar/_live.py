"""One loaded calendar inside a CalendarShard: its state, lock, timers, stream position, and the
I/O that loads, reloads, publishes and checkpoints it."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from actors.calendar._state import CalendarState, DeltaBuilder, Hold, apply_delta
from actors.calendar._store import HoldStore
from actors.calendar._wire import delta_json, parse_delta
from pipelines.availability import compute_slots
from storage.db import TenantPool
from storage.events import ORIGIN, EventLog, StreamPosition
from storage.redis import ScriptCall
from storage.scheduling import (
    CalendarSnapshot,
    NotFound,
    calendar_owner,
    load_calendar_snapshot,
)
from storage.types import Channel, ChannelName

log = logging.getLogger("cadence.calendar")
PUBLISH_TIMEOUT_S = 2.0
_SECOND = timedelta(seconds=1)


async def org_of(pool: TenantPool, calendar_id: uuid.UUID) -> uuid.UUID:
    """The calendar's organization (its shard key); NotFound for a missing or deleted one."""
    async with pool.acquire(timeout=5) as conn:
        org_id = await calendar_owner(conn, calendar_id)
    if org_id is None:
        raise NotFound("calendar")
    return org_id


async def _snapshot(
    pool: TenantPool, org_id: uuid.UUID, calendar_id: uuid.UUID, now: datetime
) -> CalendarSnapshot:
    async with pool.tenant(org_id, isolation="repeatable_read", acquire_timeout=5) as conn:
        return await load_calendar_snapshot(conn, calendar_id, now=now)


@dataclass
class LiveCalendar:
    calendar_id: uuid.UUID
    organization_id: uuid.UUID
    state: CalendarState
    position: StreamPosition = ORIGIN
    # The organization's lock (the shard owns all its calendars): a change on one calendar
    # updates every calendar sharing the specialist under it, so no two decide concurrently.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    timers: dict[uuid.UUID, asyncio.TimerHandle] = field(default_factory=dict)
    touched: float = field(default_factory=time.monotonic)
    advanced: float = field(default_factory=time.monotonic)
    checkpointed: float = field(default_factory=time.monotonic)
    dirty: bool = False  # published since the last checkpoint
    stale: bool = False  # the database refused what we believed free, or a reload failed
    unpublished: DeltaBuilder | None = None  # a publish that failed, retried with the next one
    # Changes another calendar of the organization made to this one (its holds and bookings on
    # shared specialists), published by the shard in the same batch.
    pending: DeltaBuilder | None = None
    grid: dict[datetime, bool] = field(default_factory=dict)
    _members: tuple[object, frozenset[uuid.UUID]] = (None, frozenset())

    @property
    def channel(self) -> ChannelName:
        return Channel.calendar(self.calendar_id).name

    @property
    def public(self) -> bool:
        return self.state.snap.public

    @property
    def active(self) -> bool:
        return self.state.snap.active

    @property
    def hold_ttl(self) -> timedelta:
        return timedelta(seconds=self.state.snap.hold_ttl_s)

    @property
    def members(self) -> frozenset[uuid.UUID]:
        """The calendar's specialists (cached per rules load: asked on every sibling change)."""
        cal = self.state.calendar
        if self._members[0] is not cal:
            self._members = (cal, frozenset(m.specialist.id for m in cal.specialists))
        return self._members[1]

    def changed_by_sibling(self) -> DeltaBuilder:
        if self.pending is None:
            self.pending = DeltaBuilder()
        return self.pending

    def free_slot_at(self, start: datetime, now: datetime) -> bool:
        """Whether `start` would be a slot if nobody had booked or held anything (so a hold
        request on it is a 409, not a 422). Cached per start until the rules reload."""
        known = self.grid.get(start)
        if known is None:
            cal = self.state.calendar
            found = compute_slots(cal, [], [], now, start, start + _SECOND, self.state.order_counts)
            known = bool(found) and found[0].start == start
            if len(self.grid) > 10_000:
                self.grid.clear()
            self.grid[start] = known
        return known

    async def publish(
        self, events: EventLog, delta: DeltaBuilder, along: Sequence[ScriptCall] = ()
    ) -> list[Any] | None:
        """Publish the net change as one `slots.changed`, after the scripts `along` in the same
        round trip: their results, or None when nothing changed (then `along` did not run)."""
        if self.pending is not None:  # made before `delta` (the shard flushes it each batch)
            delta = self.pending.merged(delta)
            self.pending = None
        if self.unpublished is not None:
            delta = self.unpublished.merged(delta)
        upserted, removed = delta.build(self.state.slots)
        if not upserted and not removed:
            self.unpublished = None
            return None
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                results, pos = await events.publish_after(
                    along, self.channel, "slots.changed",
                    delta_json(self.calendar_id, upserted, removed),
                )  # fmt: skip
        except BaseException:
            self.unpublished = delta  # subscribers must still get it: next publish carries it
            raise
        self.unpublished = None
        self.position = pos
        self.dirty = True
        return results

    async def save_checkpoint(self, store: HoldStore) -> None:
        await store.save_view(self.calendar_id, self.position, self.state.slot_list())
        self.dirty = False
        self.checkpointed = time.monotonic()

    async def reload(
        self, pool: TenantPool, now: datetime, delta: DeltaBuilder, *, rules: bool
    ) -> None:
        snap = await _snapshot(pool, self.organization_id, self.calendar_id, now)
        self.state.replace_snapshot(snap, now, delta, rules=rules)
        self.grid.clear()
        self.stale = False


async def load_calendar(
    calendar_id: uuid.UUID,
    org_id: uuid.UUID,
    pool: TenantPool,
    store: HoldStore,
    events: EventLog,
    now: datetime,
    *,
    lock: asyncio.Lock,
    foreign: Sequence[Hold] = (),
) -> LiveCalendar:
    """Rules and appointments from Postgres, live holds from Redis (`foreign`: the live holds of
    the organization's other loaded calendars), and the stream position; publishes whatever
    subscribers missed while no shard owned the calendar. Runs under the organization's lock."""
    snap = await _snapshot(pool, org_id, calendar_id, now)
    holds = await store.live_holds(calendar_id)
    live = LiveCalendar(calendar_id, org_id, CalendarState(snap, holds, now, foreign), lock=lock)
    checkpoint = await store.load_view(calendar_id)
    if checkpoint is None:
        pos = await events.position(live.channel)
        live.position = pos
        if pos.offset != "0-0":
            log.warning("calendar stream without checkpoint; subscribers may need a refetch")
    else:
        since, slots = checkpoint
        replay = await events.replay(live.channel, since)
        live.position = replay.position
        if replay.recovered:
            view = {s.start: s for s in slots}
            for _, frame in replay.frames:
                event = orjson.loads(frame)
                if event.get("type") == "slots.changed":
                    apply_delta(view, *parse_delta(event["data"]))
            delta = DeltaBuilder()
            for start, slot in view.items():
                delta.touch(start, slot)
            for start in live.state.slots:
                delta.touch(start, view.get(start))
            await live.publish(events, delta)
    await live.save_checkpoint(store)
    return live
