"""The runner: drives every Handler through its consumer group and every Pump on its cadence,
in one process, with one lifecycle (`start`, `stop`).

Delivery is at least once. An entry is acknowledged only after its handler returned; one whose
handler raised stays pending and is taken over again (by this consumer or another, XAUTOCLAIM)
once it has been idle for `retry_idle_s`; after `max_attempts` deliveries it is written to the
dead letters and acknowledged, so one poisonous event never blocks a group. A consumer killed
with -9 leaves its entries pending: a restart under the same name reads them first, and any
other consumer claims them after `retry_idle_s`. Consumers scale by adding processes: the group
shares new entries between them.

Offsets are gapless per channel (storage/events.py), so an entry whose `seq` jumps past the last
one read means the stream was trimmed before this group read it (a consumer down for longer than
the stream's retention): counted and logged, never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from actors.consumers import _metrics as metrics
from actors.consumers._contracts import BatchHandler, Context, Handler, Pump
from storage import dead_letters
from storage.identity import organization_ids
from storage.streams import ConsumerGroups, DomainEvent, Entry, MalformedEntry, parse_entry

log = logging.getLogger("cadence.consumers")


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    batch: int = 100  # entries per read
    block_ms: int = 1000  # a blocking read returns at least this often (to notice `stop`)
    retry_idle_s: float = 15.0  # a pending entry idle this long is claimed again
    max_attempts: int = 8  # deliveries of one entry before it becomes a dead letter
    refresh_s: float = 10.0  # how often the organization list and the gauges are refreshed
    error_pause_s: float = 1.0  # pause after Redis or Postgres refused
    claim_every_s: float = 5.0  # how often pending entries are looked at for takeover
    # Read these organizations only (tests, a worker dedicated to some tenants); None: all.
    only: frozenset[uuid.UUID] | None = None


class _Group:
    """One handler's consumer group across the organization streams."""

    def __init__(self, runner: Runner, handler: Handler) -> None:
        self.runner = runner
        self.handler = handler
        self.groups = ConsumerGroups(runner.ctx.redis, runner.ctx.keys, handler.group)
        self.streams: list[str] = []
        self.last_seq: dict[str, int] = {}
        self.refreshed = 0.0
        self.claimed = 0.0

    @property
    def name(self) -> str:
        return self.handler.group

    async def run(self) -> None:
        consumer = self.runner.consumer
        options = self.runner.options
        recovered = False
        while True:
            try:
                await self._refresh()
                if not self.streams:
                    # No organization yet: nothing to read (a read of no stream returns at
                    # once, so looping on it spun a core); look again after a read's block.
                    await asyncio.sleep(options.block_ms / 1000)
                    continue
                if not recovered:
                    # Entries this consumer name was given before a crash come first (later
                    # failures come back through `_claim_stale`, which counts deliveries).
                    await self._process(
                        await self.groups.own_pending(consumer, self.streams, count=options.batch)
                    )
                    recovered = True
                await self._claim_stale()
                entries = await self.groups.read(
                    consumer, self.streams, count=options.batch, block_ms=options.block_ms
                )
                await self._process(entries, fresh=True)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # a stream expired or Redis restarted: recreate
                    self.refreshed = 0.0
                    self.streams = []
                    continue
                await self._pause(exc)
            except Exception as exc:  # Redis or Postgres unreachable: pause, then go on
                await self._pause(exc)

    async def _pause(self, exc: BaseException) -> None:
        metrics.ERRORS.labels(self.name).inc()
        log.warning("consumer loop error", extra={"group": self.name, "error": repr(exc)})
        await asyncio.sleep(self.runner.options.error_pause_s)

    async def _refresh(self) -> None:
        now = time.monotonic()
        if self.streams and now - self.refreshed < self.runner.options.refresh_s:
            return
        only = self.runner.options.only
        if only is not None:
            orgs = sorted(only)
        else:
            async with self.runner.ctx.db.platform():
                orgs = await organization_ids()
        streams = [self.groups.stream_of(org) for org in orgs]
        known = set(self.streams)
        for stream in streams:
            if stream not in known:
                await self.groups.ensure(stream)
        self.streams = streams
        self.refreshed = now
        await self._gauges()

    async def _gauges(self) -> None:
        pending = lag = 0
        for stream in self.streams:
            info = await self.groups.info(stream)
            if info is None:
                continue
            pending += info.pending
            lag += info.lag or 0
        metrics.PENDING.labels(self.name).set(pending)
        metrics.LAG.labels(self.name).set(lag)

    async def _claim_stale(self) -> None:
        now = time.monotonic()
        if now - self.claimed < self.runner.options.claim_every_s:
            return
        self.claimed = now
        idle_ms = int(self.runner.options.retry_idle_s * 1000)
        for stream in self.streams:
            claimed = await self.groups.claim_stale(
                self.runner.consumer, stream, min_idle_ms=idle_ms, count=self.runner.options.batch
            )
            if claimed:
                metrics.CLAIMED.labels(self.name).inc(len(claimed))
                await self._process(claimed, retried=True)

    async def _process(
        self, entries: Sequence[Entry], *, fresh: bool = False, retried: bool = False
    ) -> None:
        done: dict[str, list[str]] = {}
        parsed: list[tuple[Entry, DomainEvent]] = []
        for entry in entries:
            if fresh:
                self._check_gap(entry)
            try:
                parsed.append((entry, parse_entry(entry.fields)))
            except MalformedEntry:
                metrics.HANDLED.labels(self.name, "malformed").inc()
                done.setdefault(entry.stream, []).append(entry.entry_id)
        if len(parsed) > 1 and await self._handle_batch([e for _, e in parsed], retried=retried):
            for entry, _ in parsed:
                done.setdefault(entry.stream, []).append(entry.entry_id)
        else:
            for entry, event in parsed:
                if await self._handle(entry, event, retried=retried):
                    done.setdefault(entry.stream, []).append(entry.entry_id)
        for stream, ids in done.items():
            await self.groups.ack(stream, ids)

    async def _handle_batch(self, events: list[DomainEvent], *, retried: bool) -> bool:
        """The whole batch in one call, where the handler can; False: handle one by one."""
        if not isinstance(self.handler, BatchHandler):
            return False
        started = time.perf_counter()
        try:
            await self.handler.handle_many(events)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info(
                "batch handler failed; handling one by one",
                extra={"group": self.name, "events": len(events), "error": type(exc).__name__},
            )
            return False
        metrics.HANDLED.labels(self.name, "retried" if retried else "ok").inc(len(events))
        metrics.HANDLE_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        return True

    def _check_gap(self, entry: Entry) -> None:
        last = self.last_seq.get(entry.stream)
        if last is not None and entry.seq > last + 1:
            missed = entry.seq - last - 1
            metrics.GAPS.labels(self.name).inc(missed)
            log.error(
                "events trimmed before the group read them",
                extra={"group": self.name, "missed": missed},
            )
        self.last_seq[entry.stream] = max(entry.seq, last or 0)

    async def _handle(self, entry: Entry, event: DomainEvent, *, retried: bool) -> bool:
        """Whether the entry may be acknowledged."""
        started = time.perf_counter()
        try:
            await self.handler.handle(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            metrics.HANDLED.labels(self.name, "failed").inc()
            attempts = await self.groups.deliveries(entry.stream, entry.entry_id)
            log.warning(
                "event handler failed",
                extra={
                    "group": self.name,
                    "event_type": event.type,
                    "attempts": attempts,
                    "error": type(exc).__name__,
                },
            )
            if attempts < self.runner.options.max_attempts:
                return False
            async with self.runner.ctx.db.platform() as conn:
                await dead_letters.record(
                    conn,
                    organization_id=event.organization_id,
                    group=self.name,
                    event_id=event.id,
                    event_type=event.type,
                    payload={"type": event.type, "data": event.data},
                    error=repr(exc)[:2000],
                    attempts=attempts,
                )
            metrics.DEAD.labels(self.name).inc()
            return True
        metrics.HANDLED.labels(self.name, "retried" if retried else "ok").inc()
        metrics.HANDLE_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        return True


class Runner:
    """Every consumer of this process. `consumer` names it inside each group: keep it stable
    across restarts of the same worker so that its pending entries are read back first."""

    def __init__(
        self,
        ctx: Context,
        handlers: Sequence[Handler],
        pumps: Sequence[Pump],
        *,
        consumer: str | None = None,
        options: RunnerOptions | None = None,
    ) -> None:
        self.ctx = ctx
        self.handlers = list(handlers)
        self.pumps = list(pumps)
        self.consumer = consumer or f"consumer-{uuid.uuid4().hex[:12]}"
        self.options = options or RunnerOptions()
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: dict[str, asyncio.Event] = {}

    def start(self) -> None:
        for handler in self.handlers:
            self._spawn(_Group(self, handler).run(), f"group:{handler.group}")
        for pump in self.pumps:
            self._wake[pump.name] = asyncio.Event()
            self._spawn(self._pump(pump), f"pump:{pump.name}")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    def wake(self, pump: str) -> None:
        """Run a pump now rather than after its idle pause (e.g. new due work was written)."""
        event = self._wake.get(pump)
        if event is not None:
            event.set()

    async def _pump(self, pump: Pump) -> None:
        wake = self._wake[pump.name]
        while True:
            try:
                done = await pump.run_once()
                metrics.PUMPED.labels(pump.name).inc(done)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or Postgres refused: count, pause, go on
                metrics.ERRORS.labels(pump.name).inc()
                log.warning("pump error", extra={"pump": pump.name, "error": repr(exc)})
                done = 0
            if done:
                continue
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), pump.idle_s)

    async def stop(self) -> None:
        """Cancel every loop. An entry being handled stays pending and comes back (at least
        once); a pump's claimed rows come back when their lease ends."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
