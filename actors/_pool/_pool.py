"""A fixed pool of named, restartable Ray actors with per-shard micro-batching.

One Ray round trip costs 3-5 ms on the development machine whatever it carries, so requests for a
shard are queued and sent together: while one batch is in flight the next accumulates (natural
batching: no timer adds latency when the system is idle). Each actor class implements
`async def handle_batch(self, requests: list) -> list` returning one result per request, in order.
A batch for an actor on this host goes over its Unix-socket link (`_local_link.py`), which
costs a fraction of a Ray call; for an actor on another node, through Ray. A request that the
pool sends again after a failed call is replaced by its `again()`, when it has one, so the actor
knows it may have seen it before.

When an actor dies (kill -9, node loss) Ray restarts it (`max_restarts=-1`) and it rebuilds its
state. Calls in the gap fail fast; the pool retries idempotent requests for a bounded time and
otherwise raises `ShardUnavailable`, which the server turns into 503 + Retry-After. Never a wrong
answer, never an unbounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from actors._pool import metrics
from actors._pool._local_link import Link, LinkBroken
from actors._pool.runtime import NAMESPACE
from actors._pool.sharding import shard_of

log = logging.getLogger("cadence.actors")
RETRYABLE = (RayActorError, ActorUnavailableError, GetTimeoutError)


class ShardUnavailable(Exception):
    """The owning actor did not answer within the bound; retry later."""

    def __init__(self, name: str, retry_after_s: int = 1) -> None:
        super().__init__(f"{name} is restarting")
        self.retry_after_s = retry_after_s


@dataclass
class ShardOverloaded(Exception):
    """The shard's queue is full: the caller should slow down and retry after a pause."""

    def __init__(self, name: str, retry_after_ms: int) -> None:
        super().__init__(f"{name} is overloaded")
        self.retry_after_ms = retry_after_ms


@dataclass
class _Pending:
    request: Any
    future: asyncio.Future[Any]
    idempotent: bool
    deadline: float


class _Shard:
    def __init__(self, pool: ActorPool, index: int, handle: Any) -> None:
        self.pool = pool
        self.index = index
        self.handle = handle
        self.queue: list[_Pending] = []
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.link: Link | None = None
        self.remote = False  # the actor is on another node: no link, Ray calls only

    async def run(self) -> None:
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            while self.queue:
                batch = self.queue[: self.pool.max_batch]
                del self.queue[: self.pool.max_batch]
                metrics.PENDING.labels(self.pool.name).set(len(self.queue))
                await self._send(batch)

    async def _send(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if not p.future.done()]
        if not live:
            return
        started = time.perf_counter()
        metrics.BATCH_SIZE.labels(self.pool.name).observe(len(live))
        path = "handle_batch"
        try:
            link = await self._link()
            if link is not None:
                path = "link"
                results = await link.call([p.request for p in live], self.pool.call_timeout_s)
            else:
                results = await asyncio.wait_for(
                    self.handle.handle_batch.remote([p.request for p in live]),
                    self.pool.call_timeout_s,
                )
        except (*RETRYABLE, LinkBroken, TimeoutError) as exc:
            self.unlink()
            metrics.RAY_CALLS.labels(self.pool.name, path, "unavailable").inc()
            self._retry_or_fail(live, exc)
            # The actor is restarting: pause this shard's loop (only) before trying again.
            await asyncio.sleep(self.pool.retry_pause_s)
            return
        except Exception as exc:  # an application error inside the actor: fail these requests
            metrics.RAY_CALLS.labels(self.pool.name, path, "error").inc()
            for p in live:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        metrics.RAY_CALLS.labels(self.pool.name, path, "ok").inc()
        metrics.RAY_LATENCY.labels(self.pool.name, path).observe(time.perf_counter() - started)
        for p, result in zip(live, results, strict=True):
            if not p.future.done():
                p.future.set_result(result)

    async def _link(self) -> Link | None:
        """The open same-host link to the actor, opened on first use; None when the pool does
        not use links or the actor runs on another node. Asking where the actor listens is a
        Ray call: while the actor restarts it raises, and `_send` treats that as unavailable."""
        if self.link is not None or self.remote or not self.pool.direct:
            return self.link
        where = await asyncio.wait_for(self.handle.link.remote(), self.pool.call_timeout_s)
        if where is None or where[0] != _node_id():
            self.remote = True
            return None
        try:
            self.link = await Link.open(where[1])
        except LinkBroken:  # its socket is not reachable from here after all: use Ray
            log.warning("actor link unreachable", extra={"actor": self.pool.name})
            self.remote = True
            return None
        metrics.LINKS.labels(self.pool.name).inc()
        return self.link

    def unlink(self) -> None:
        """Forget the link (its actor died, restarts or timed out); the next send asks again,
        and a restarted actor may have moved to another node."""
        if self.link is not None:
            self.link.close()
            self.link = None
            metrics.LINKS.labels(self.pool.name).dec()
        self.remote = False

    def _retry_or_fail(self, batch: list[_Pending], exc: BaseException) -> None:
        now = time.monotonic()
        again = [p for p in batch if p.idempotent and p.deadline > now]
        for p in batch:
            if p not in again and not p.future.done():
                p.future.set_exception(ShardUnavailable(self.pool.name))
        for p in again:  # the failed call may have reached the actor: say so to it
            resend = getattr(p.request, "again", None)
            if resend is not None:
                p.request = resend()
        if again:
            log.warning(
                "actor unavailable, retrying",
                extra={"actor": self.pool.name, "shard": self.index, "error": type(exc).__name__},
            )
            self.queue[:0] = again


class ActorPool:
    """`size` named actors `<name>-<i>`; `call(key, request)` goes to the actor owning `key`."""

    def __init__(
        self,
        actor_class: Any,
        name: str,
        size: int,
        init_args: Sequence[Any] = (),
        *,
        max_batch: int = 200,
        call_timeout_s: float = 5.0,
        retry_window_s: float = 8.0,
        retry_pause_s: float = 0.2,
        start_window_s: float = 30.0,
        max_concurrency: int = 64,
        max_pending: int = 20_000,
        direct: bool = True,
    ) -> None:
        self.actor_class = actor_class
        self.name = name
        self.size = size
        self.init_args = tuple(init_args)
        self.max_batch = max_batch
        self.call_timeout_s = call_timeout_s
        self.retry_window_s = retry_window_s
        self.retry_pause_s = retry_pause_s
        self.start_window_s = start_window_s
        self.max_concurrency = max_concurrency
        self.max_pending = max_pending
        self.direct = direct
        self._shards: list[_Shard] = []
        self._starting: asyncio.Lock | None = None

    @property
    def started(self) -> bool:
        return bool(self._shards)

    async def ensure_started(self) -> None:
        """Start on first use: processes that never touch this pool never pay for its actors."""
        if self._shards:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if not self._shards:
                await self.start()

    async def start(self) -> None:
        """Find or create the named actors (another server process may have created them)."""
        handles = await asyncio.to_thread(self._handles)
        self._shards = [_Shard(self, i, h) for i, h in enumerate(handles)]
        for shard in self._shards:
            shard.task = asyncio.create_task(shard.run(), name=f"{self.name}-{shard.index}")
        # Wait until every actor has finished rebuilding (its constructor ran). A first start
        # spawns worker processes that import their libraries (MediaPipe for pose): seconds on
        # a busy machine, so it has its own, longer window than a restart's retry window.
        deadline = time.monotonic() + self.start_window_s
        for shard in self._shards:
            while True:
                try:
                    await asyncio.wait_for(shard.handle.ready.remote(), self.call_timeout_s)
                    break
                except (*RETRYABLE, TimeoutError):
                    if time.monotonic() > deadline:
                        raise ShardUnavailable(self.name) from None
                    await asyncio.sleep(self.retry_pause_s)

    def _handles(self) -> list[Any]:
        return [
            self.actor_class.options(
                name=f"{self.name}-{i}",
                namespace=NAMESPACE,
                get_if_exists=True,
                lifetime="detached",
                max_restarts=-1,
                max_task_retries=0,
                max_concurrency=self.max_concurrency,
                # Over several nodes, a pool's shards go to different nodes where they can, so
                # losing one node loses a fraction of the shards, not all of them.
                scheduling_strategy="SPREAD",
            ).remote(i, self.size, *self.init_args)
            for i in range(self.size)
        ]

    async def stop(self, *, kill: bool = False) -> None:
        """Stop routing; with `kill`, also remove the actors (tests; a single-server setup)."""
        for shard in self._shards:
            if shard.task is not None:
                shard.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await shard.task
            shard.unlink()
            for p in shard.queue:
                if not p.future.done():
                    p.future.set_exception(ShardUnavailable(self.name))
        if kill and self._shards:
            await asyncio.to_thread(kill_all, self.name, self.size)
        self._shards = []

    def shard_for(self, key: uuid.UUID | str) -> int:
        return shard_of(key, self.size)

    def handle(self, index: int) -> Any:
        return self._shards[index].handle

    async def call(self, key: uuid.UUID | str, request: Any, *, idempotent: bool = False) -> Any:
        return await (await self.submit(key, request, idempotent=idempotent))

    async def submit(
        self, key: uuid.UUID | str, request: Any, *, idempotent: bool = False
    ) -> asyncio.Future[Any]:
        """Queue `request` and return the future of its result without waiting for it: requests
        submitted one after another for one key reach its actor in that order."""
        await self.ensure_started()
        shard = self._shards[self.shard_for(key)]
        if len(shard.queue) >= self.max_pending:
            metrics.REJECTED.labels(self.name).inc()
            raise ShardOverloaded(self.name, retry_after_ms=250)
        loop = asyncio.get_running_loop()
        pending = _Pending(
            request, loop.create_future(), idempotent, time.monotonic() + self.retry_window_s
        )
        shard.queue.append(pending)
        metrics.PENDING.labels(self.name).set(len(shard.queue))
        shard.wakeup.set()
        return pending.future

    async def broadcast(self, method: str, *args: Any) -> list[Any]:
        """Call `method` on every actor (admin operations, tests)."""
        await self.ensure_started()
        return list(
            await asyncio.gather(*(getattr(s.handle, method).remote(*args) for s in self._shards))
        )

    async def pids(self) -> list[int]:
        await self.ensure_started()
        return list(await asyncio.gather(*(s.handle.pid.remote() for s in self._shards)))


def _node_id() -> str:
    return str(ray.get_runtime_context().get_node_id())


def kill_all(name: str, size: int) -> None:
    """Remove the named actors for good (tests, `cadence` admin)."""
    for i in range(size):
        with contextlib.suppress(ValueError):
            ray.kill(ray.get_actor(f"{name}-{i}", namespace=NAMESPACE), no_restart=True)
