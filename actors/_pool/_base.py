"""What every pooled actor has: its place in the pool, a readiness probe, its pid, and a
garbage collector tuned for a process that serves batches all day; what the stateful ones add:
a rebuild when they start (after a restart too) and a database pool opened on first use."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Coroutine
from typing import Any

import ray

from actors._pool._local_link import LinkServer
from storage.db import AppDatabase, TenantPool, create_pool

# Allocations between young collections (CPython's default is 700).
GC_GEN0_THRESHOLD = 20_000


def tune_gc() -> None:
    """An actor turns messages into short-lived objects by the ten thousand a second, freed by
    reference counting (they hold no cycles), beside Ray's large, permanent heap. With CPython's
    default thresholds the cyclic collector ran every 700 allocations, promoted what a batch
    still held and kept rescanning that heap (1.5-2.5 us of collector time per telemetry row).
    What exists at start-up is never garbage, so it is frozen out of every scan, and young
    collections run less often. Cycles are still collected, later."""
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, 10, 10)


def lower_priority(niceness: int) -> None:
    """Add `niceness` to the nice value (CPU priority; 0 leaves it) of every thread of this
    process. On Linux a nice value belongs to a thread, and an actor's constructor runs on its
    event loop's thread beside Ray's own threads: os.nice() there would leave the rest of the
    process as it was. Threads started later inherit their creator's value. A process may lower
    its priority, never raise it back: only bulk work calls this."""
    if niceness <= 0:
        return
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # no procfs: this thread only
        os.nice(niceness)
        return
    for tid in threads:
        try:
            now = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, now + niceness))
        except OSError:  # the thread ended meanwhile
            continue


class PooledActor:
    def __init__(self, index: int, size: int) -> None:
        self.index = index
        self.size = size
        self._link: LinkServer | None = None
        self._linking: asyncio.Lock | None = None
        tune_gc()

    async def ready(self) -> bool:
        """Answers once the constructor (state rebuild) has finished."""
        return True

    async def pid(self) -> int:
        return os.getpid()

    async def link(self) -> tuple[str, str] | None:
        """(node id, socket path) of this actor's same-host fast path (actors/_pool/_local_link.py),
        started on first ask; None when this host offers no private directory for it."""
        if self._linking is None:
            self._linking = asyncio.Lock()
        async with self._linking:
            if self._link is None:
                handler = self.handle_batch  # type: ignore[attr-defined]
                self._link = await LinkServer.start(f"{type(self).__name__}-{self.index}", handler)
        if self._link is None:
            return None
        return ray.get_runtime_context().get_node_id(), self._link.path


class RebuildingActor(PooledActor):
    """A pooled actor that rebuilds its state as soon as it starts: `_rebuild()` runs on the
    actor's event loop right after the constructor (Ray runs the constructor on that loop), so
    after a restart its timers run again without waiting for a request. `ready()` answers once
    the rebuild has ended, well or not; then `_after_rebuild()` starts the background work."""

    def __init__(self, index: int, size: int) -> None:
        super().__init__(index, size)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop = asyncio.get_event_loop()
        self._booted: asyncio.Future[None] = self._loop.create_future()
        self._loop.call_soon_threadsafe(self._spawn, self._boot())

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """A background task kept referenced until it ends."""
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _boot(self) -> None:
        try:
            await self._rebuild()
        finally:
            if not self._booted.done():
                self._booted.set_result(None)
        await self._after_rebuild()

    async def _rebuild(self) -> None:
        """Reload what this actor owns; a failure leaves the rest to lazy loading."""

    async def _after_rebuild(self) -> None:
        """Start background loops."""

    async def ready(self) -> bool:
        await asyncio.shield(self._booted)
        return True


class LazyPool:
    """An actor's PostgreSQL pool, opened on first use, once however many batches ask at once;
    `seal` scopes its transactions to a tenant (storage.db.enter_tenant)."""

    def __init__(self, db: AppDatabase, max_size: int) -> None:
        self._db = db
        self._max_size = max_size
        self._pool: TenantPool | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> TenantPool:
        async with self._lock:
            if self._pool is None:
                pool = await create_pool(self._db.dsn, min_size=1, max_size=self._max_size)
                self._pool = TenantPool(pool, self._db.seal)
        return self._pool
