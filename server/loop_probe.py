"""How late the server's event loop runs what is due: every request, frame and push waits in
its ready queue, so its lag is the first place to look when latencies outgrow handler times."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import Histogram

LOOP_LAG = Histogram(
    "cadence_event_loop_lag_seconds",
    "How much later than asked a short sleep of the server's event loop woke",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
PROBE_EVERY_S = 0.05  # 20 samples a second: a stall of a tenth of a second is never missed


async def _probe() -> None:
    while True:
        asked = time.perf_counter() + PROBE_EVERY_S
        await asyncio.sleep(PROBE_EVERY_S)
        LOOP_LAG.observe(max(0.0, time.perf_counter() - asked))


async def loop_lag_ctx(_: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_probe(), name="loop-lag-probe")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
