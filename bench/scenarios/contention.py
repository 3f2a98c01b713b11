"""`contention`: N concurrent hold requests for one slot of a one-specialist calendar, R times
(default 500 x 100): exactly one 201 and N-1 409 in every repetition (invariant 2 at the edge)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp

from bench.runner import Options
from bench.scenarios.holds import live_server
from bench.schema import Goal, Result
from bench.stats import percentile


async def run(opts: Options) -> Result:
    concurrent = int(opts.pick(opts.clients, 500, 100))
    repetitions = int(opts.pick(opts.rate, 100, 5))
    outcomes: list[Counter[int]] = []
    burst_ms: list[float] = []
    async with live_server(specialists=1, interval_min=60) as world:
        tokens = [world.headers() for _ in range(concurrent)]
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(world.base, connector=connector) as http:

            async def hold(start: str, headers: dict[str, str]) -> int:
                body = {"calendar_id": world.calendar_id, "start": start}
                async with http.post("/v1/holds", json=body, headers=headers) as r:
                    await r.read()
                    return r.status

            for rep in range(repetitions):
                start = world.starts[rep % len(world.starts)]
                t0 = time.perf_counter()
                statuses = await asyncio.gather(*(hold(start, h) for h in tokens))
                burst_ms.append((time.perf_counter() - t0) * 1000)
                outcomes.append(Counter(statuses))
    exact = all(c[201] == 1 and c[409] == concurrent - 1 for c in outcomes)
    return Result(
        scenario="contention",
        parameters={"concurrent": concurrent, "repetitions": repetitions},
        figures={
            "repetitions_exact": float(
                sum(c[201] == 1 and c[409] == concurrent - 1 for c in outcomes)
            ),
            "grants_total": float(sum(c[201] for c in outcomes)),
            "burst_p50_ms": percentile(burst_ms, 50),
            "burst_max_ms": max(burst_ms) if burst_ms else 0.0,
            "other_statuses": float(
                sum(sum(v for k, v in c.items() if k not in (201, 409)) for c in outcomes)
            ),
        },
        goals=[Goal("repetitions_exact", ">=", repetitions)],
        checks={"exactly_one_grant_per_repetition": exact},
        notes=[
            f"{concurrent} concurrent POST /v1/holds for the same slot, each with its own "
            "token, repeated on different slots."
        ],
    )
