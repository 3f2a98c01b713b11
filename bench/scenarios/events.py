"""`events`: publishing through the events primitive (one Lua call: XADD + trim + PUBLISH with a
gapless offset and epoch) beside the raw Redis peer (XADD + PUBLISH pipelined, no guarantees)."""

from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable

from bench.runner import Options
from bench.schema import Goal, Result
from bench.stats import CpuMeter, percentile
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis
from storage.types import Channel


async def _drive(
    publish_one: Callable[[int, int], Awaitable[None]], total: int, concurrency: int
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    per_worker = total // concurrency

    async def worker(w: int) -> None:
        for i in range(per_worker):
            t0 = time.perf_counter()
            await publish_one(w, i)
            latencies.append((time.perf_counter() - t0) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return (per_worker * concurrency) / (time.perf_counter() - started), latencies


async def run(opts: Options) -> Result:
    total = int(opts.pick(None, 50_000, 5_000))
    concurrency = int(opts.pick(opts.clients, 50, 20))
    channels = int(opts.pick(opts.channels, 10, 5))
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-{secrets.token_hex(3)}:"
    client = create_redis(url, max_connections=concurrency + 5)
    keys = KeySpace(prefix)
    log = EventLog(client, keys)
    names = [Channel.calendar(uuid.uuid4()).name for _ in range(channels)]
    payload = {"calendar_id": str(uuid.uuid4()), "upserted": [], "removed": []}
    meter = CpuMeter()
    try:

        async def ours(w: int, i: int) -> None:
            await log.publish(names[(w + i) % channels], "slots.changed", payload)

        async def raw(w: int, i: int) -> None:
            name = names[(w + i) % channels]
            pipe = client.pipeline(transaction=False)
            pipe.xadd(
                keys.stream(name) + ":raw", {"f": b"x" * 120}, maxlen=100_000, approximate=True
            )
            pipe.publish(keys.topic(name) + ":raw", b"x" * 140)
            await pipe.execute()

        meter.start()
        rate, lat = await _drive(ours, total, concurrency)
        cpu = meter.stop()
        raw_rate, raw_lat = await _drive(raw, total, concurrency)
    finally:
        batch = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(batch), 500):
            await client.delete(*batch[i : i + 500])
        await client.aclose()
    figures = {
        "events_per_s": rate,
        "publish_p50_ms": percentile(lat, 50),
        "publish_p99_ms": percentile(lat, 99),
    }
    baseline = {
        "events_per_s": raw_rate,
        "publish_p50_ms": percentile(raw_lat, 50),
        "publish_p99_ms": percentile(raw_lat, 99),
    }
    return Result(
        scenario="events",
        parameters={"events": total, "concurrency": concurrency, "channels": channels},
        figures=figures,
        baseline_name="raw Redis XADD+PUBLISH",
        baseline=baseline,
        ratios={k: figures[k] / baseline[k] for k in figures if baseline[k]},
        goals=[Goal("events_per_s", ">=", 0.5 * raw_rate, "ev/s")],
        generators=[{"name": "publisher", "cpu_percent": cpu}],
        series={"cadence publish": lat[:20000], "raw XADD+PUBLISH": raw_lat[:20000]},
        notes=[
            "The primitive adds the gapless offset, epoch rotation and time+length trimming "
            "in the same round trip; the goal is to cost at most 2x the raw pipeline."
        ],
    )
