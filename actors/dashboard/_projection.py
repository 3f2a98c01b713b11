"""The live front desk: a projection of each organization's day, kept in Redis and pushed as
deltas on the organization's channel (see `_state` for the events and their shapes).

Every refresh recomputes the day from Postgres (one repeatable-read transaction) and commits
the difference from the published state together with the events describing it
(storage.dashboard.ProjectionStore). Recomputing makes every trigger idempotent: a re-delivered
event, a concurrent consumer, the pump and a snapshot's own refresh all converge on the same
state, and an event that changes nothing publishes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from actors.consumers import Context
from actors.dashboard import _metrics as metrics
from actors.dashboard._state import (
    Rules,
    State,
    attention_of,
    cards_of,
    decode,
    deltas,
    encode,
    ordered,
    state_of,
)
from storage import dashboard as store
from storage.events import StreamPosition
from storage.streams import DomainEvent
from storage.types import Channel

log = logging.getLogger("cadence.dashboard")
# Event types that can change an organization's day. Dashboard events themselves come back
# through the same stream and are skipped. A notification failing publishes nothing on the
# organization channel: the pump finds it (within its `idle_s`).
TRIGGERS = ("appointment.", "follow_up.")
# At most this many awaited appointments of one day are read (the queue lists the earliest).
MAX_AWAITED = 500
MAX_FAILED = 200
DEFAULT_RULES = Rules()
# Each clinic's time zone is read once a minute at most (every appointment event recomputes the
# day): a changed zone shows within that minute.
ZONE_TTL_S = 60.0
MAX_ZONES = 10_000
# A read batch recomputes an organization's day at most this often: the events of a busy front
# desk (tens a second) fold into the next recompute instead of one each, and a change still
# shows within this gap plus one recompute.
REFRESH_GAP_S = 0.25
STATE_TTL_S = 14 * 24 * 3600  # a state lost to expiry restarts with a `reset`: always safe


@dataclass(frozen=True, slots=True)
class Dashboard:
    """A snapshot: the published state and the stream position it is at least as new as."""

    day: str
    cards: dict[str, int]
    attention: list[dict[str, Any]]
    position: StreamPosition

    def as_dict(self, *, with_attention: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"day": self.day, "cards": self.cards}
        if with_attention:
            out["attention"] = self.attention
        out["position"] = self.position.as_dict()
        return out


def clinic_day(zone_name: str, now: datetime) -> tuple[date, datetime, datetime]:
    """The clinic's local date at `now` and its bounds as instants."""
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    day = now.astimezone(zone).date()
    start = datetime.combine(day, datetime.min.time(), zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
    return day, start, end


class DashboardProjection:
    """The `dashboard` consumer group's handler, and the refresh the pump and snapshots share."""

    group = "dashboard"

    def __init__(
        self, ctx: Context, rules: Rules = DEFAULT_RULES, *, refresh_gap_s: float = REFRESH_GAP_S
    ) -> None:
        self._ctx = ctx
        self._rules = rules
        self._gap = refresh_gap_s
        self._store = store.ProjectionStore(ctx.redis, ctx.events, ttl_s=STATE_TTL_S)
        self._zones: dict[uuid.UUID, tuple[str, float]] = {}  # org -> (zone, read at)
        self._refreshed: dict[uuid.UUID, float] = {}  # org -> when events last recomputed it

    def _key(self, org_id: uuid.UUID) -> str:
        # The channel's hash tag: the state and the stream it is published on share one cluster
        # slot, as the MULTI that writes both requires.
        return self._ctx.keys.named("dashboard", "{" + Channel.org(org_id).name + "}")

    async def handle(self, event: DomainEvent) -> None:
        """One event: its organization's day recomputed now."""
        if event.type.startswith(TRIGGERS):
            await self.refresh(event.organization_id, trigger="event")

    async def handle_many(self, events: Sequence[DomainEvent]) -> None:
        """A read batch of the group: each organization's day is recomputed once, however many
        of its events the batch holds (the projection reads Postgres, not the events). One
        recomputed less than `refresh_gap_s` ago waits out the gap first: the group reads
        nothing meanwhile, so what arrives in the gap joins the next batch's one recompute."""
        orgs = dict.fromkeys(e.organization_id for e in events if e.type.startswith(TRIGGERS))
        if not orgs:
            return
        last = max(self._refreshed.get(org_id, -self._gap) for org_id in orgs)
        wait = last + self._gap - time.monotonic()
        if wait > 0:
            metrics.COALESCED.inc()
            await asyncio.sleep(wait)
        if len(self._refreshed) >= MAX_ZONES:
            self._refreshed.clear()  # bounded; a forgotten organization just waits no gap
        for org_id in orgs:
            self._refreshed[org_id] = time.monotonic()
            await self.refresh(org_id, trigger="event")

    async def compute(self, org_id: uuid.UUID) -> State:
        """The organization's day as Postgres says now."""
        now = self._ctx.clock.now()
        async with self._ctx.db.app.tenant(org_id, isolation="repeatable_read") as conn:
            day, start, end = clinic_day(await self._zone(org_id), now)
            counts = await store.day_counts(conn, start, end)
            awaited = await store.open_appointments(start, end, MAX_AWAITED)
            failed = await store.failed_notifications(conn, start, end, MAX_FAILED)
            due = await store.follow_ups_due(conn, day)
        if len(awaited) >= MAX_AWAITED or len(failed) >= MAX_FAILED:
            metrics.ATTENTION_TRUNCATED.inc()
        cards = cards_of(counts, due)
        return state_of(day, cards, attention_of(awaited, failed, now, self._rules))

    async def _zone(self, org_id: uuid.UUID) -> str:
        """The clinic's time zone (inside the organization's transaction), cached briefly."""
        cached = self._zones.get(org_id)
        if cached is not None and time.monotonic() - cached[1] < ZONE_TTL_S:
            metrics.ZONE_CACHE.labels("hit").inc()
            return cached[0]
        metrics.ZONE_CACHE.labels("miss").inc()
        zone = await store.clinic_timezone(org_id)
        if len(self._zones) >= MAX_ZONES:
            self._zones.clear()  # bounded; the next reads refill it
        self._zones[org_id] = (zone, time.monotonic())
        return zone

    async def refresh(self, org_id: uuid.UUID, *, trigger: str) -> bool:
        """Recompute and publish what changed; True when something was published."""
        started = time.perf_counter()
        last: list[tuple[str, Any]] = []  # the events of the attempt that committed

        async def step(raw: bytes | None) -> tuple[bytes | None, list[tuple[str, Any]]]:
            new = await self.compute(org_id)
            last[:] = deltas(decode(raw), new)
            return (encode(new) if last else None), list(last)

        published = await self._store.update(self._key(org_id), Channel.org(org_id).name, step)
        metrics.REFRESH_SECONDS.observe(time.perf_counter() - started)
        metrics.REFRESHES.labels(trigger, "changed" if published else "unchanged").inc()
        for event_type, _ in last if published else ():
            metrics.DELTAS.labels(event_type).inc()
        return published > 0

    async def snapshot(self, org_id: uuid.UUID) -> Dashboard:
        """The dashboard brought up to date, with the position to follow its deltas from."""
        await self.refresh(org_id, trigger="snapshot")
        snap = await self._store.snapshot(self._key(org_id), Channel.org(org_id).name)
        state = decode(snap.state)
        if state is None:  # lost between the refresh and the read: what Postgres says
            state = await self.compute(org_id)
        return Dashboard(
            state["day"],
            dict(state["cards"]),
            [dict(i) for i in ordered(state["attention"].values())],
            snap.position,
        )
