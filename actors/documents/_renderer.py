"""The renderer: PDFs made in a small pool of worker processes, never on the event loop.

Concurrent requests for the same document (same digest) share one render.

Bounded: at most `max_in_flight` renders are running or waiting for a worker; one more is
refused at once (`RendererBusy`, answered 503 with Retry-After) instead of queueing without
bound behind a slow worker. The workers run at a lower CPU priority (os.nice), so on a small
machine interactive requests win over a PDF.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from actors.documents import _metrics as metrics
from actors.documents import _worker
from pipelines.documents import Document, digest
from storage.errors import Unavailable

log = logging.getLogger("cadence.documents")


@dataclass(frozen=True, slots=True)
class RendererOptions:
    workers: int = 1  # processes; each render holds one core while it runs
    max_in_flight: int = 4  # running + waiting; beyond this a render is refused
    timeout_s: float = 60.0  # a render still running after this is abandoned (503)
    niceness: int = 10  # added to the workers' nice value; 0 leaves it


@dataclass(frozen=True, slots=True)
class RenderedPdf:
    data: bytes
    sha256: str
    seconds: float  # in the worker process


class RendererBusy(Unavailable):
    """Every render slot is taken (or the worker pool is restarting): try again shortly."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, {"retry_after_s": retry_after_s})
        self.retry_after_s = retry_after_s


class Renderer:
    """One per server process: `start` before the first render, `close` at shutdown."""

    def __init__(self, options: RendererOptions | None = None) -> None:
        self.options = options or RendererOptions()
        self._pool: ProcessPoolExecutor | None = None
        self._in_flight = 0
        self._mean_s = 0.5  # running mean of render times, for the Retry-After hint
        self._pending: dict[str, asyncio.Future[RenderedPdf]] = {}

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn: the server process runs threads (Ray, the loop's executor); forking it is unsafe.
        return ProcessPoolExecutor(
            max_workers=self.options.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker.init,
            initargs=(self.options.niceness,),
        )

    async def start(self, *, warm: bool = True) -> None:
        """Create the pool; with `warm`, start its processes now (WeasyPrint loads in each,
        about two seconds) rather than on the first request."""
        self._pool = self._new_pool()
        if warm:
            loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(
                    loop.run_in_executor(self._pool, _worker.ping)
                    for _ in range(self.options.workers)
                )
            )

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    def _retry_after(self) -> int:
        waiting = max(1, self._in_flight) / max(1, self.options.workers)
        return max(1, math.ceil(waiting * self._mean_s))

    async def _replace_pool(self) -> None:
        """After a crash or an abandoned render: a fresh pool; the old one's processes are
        stopped (an abandoned render would otherwise keep its core)."""
        old, self._pool = self._pool, self._new_pool()
        if old is not None:
            for process in list(getattr(old, "_processes", {}).values()):  # no public API
                process.kill()
            await asyncio.to_thread(old.shutdown, wait=False, cancel_futures=True)

    async def render(self, document: Document) -> RenderedPdf:
        """The document's PDF. Raises RendererBusy when full, restarting or too slow."""
        key = digest(document)
        pending = self._pending.get(key)
        if pending is not None:  # the same document is being rendered: wait for that one
            return await asyncio.shield(pending)
        shared: asyncio.Future[RenderedPdf] = asyncio.get_running_loop().create_future()
        self._pending[key] = shared
        try:
            result = await self._render(document)
        except asyncio.CancelledError:
            shared.cancel()
            raise
        except Exception as exc:
            shared.set_exception(exc)
            shared.exception()  # retrieved: waiters re-raise it; none is not an error
            raise
        finally:
            del self._pending[key]
        shared.set_result(result)
        return result

    async def _render(self, document: Document) -> RenderedPdf:
        if self._pool is None:
            raise RendererBusy("the document renderer is not running", 1)
        if self._in_flight >= self.options.max_in_flight:
            metrics.REFUSED.inc()
            raise RendererBusy("the document renderer is busy", self._retry_after())
        kind = document.kind.value
        self._in_flight += 1
        metrics.IN_FLIGHT.inc()
        try:
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(self.options.timeout_s):
                data, seconds = await loop.run_in_executor(self._pool, _worker.render, document)
        except TimeoutError:
            metrics.RENDERS.labels(kind, "timeout").inc()
            log.warning("document render abandoned", extra={"kind": kind})
            await self._replace_pool()
            raise RendererBusy("the document took too long to render", 5) from None
        except BrokenProcessPool:
            metrics.RENDERS.labels(kind, "failed").inc()
            log.error("document renderer process died; restarting the pool")
            await self._replace_pool()
            raise RendererBusy("the document renderer is restarting", 2) from None
        except Exception:
            metrics.RENDERS.labels(kind, "failed").inc()
            raise
        finally:
            self._in_flight -= 1
            metrics.IN_FLIGHT.dec()
        metrics.RENDERS.labels(kind, "rendered").inc()
        metrics.RENDER_SECONDS.labels(kind).observe(seconds)
        self._mean_s = 0.8 * self._mean_s + 0.2 * seconds
        return RenderedPdf(data, hashlib.sha256(data).hexdigest(), seconds)
