"""`waitlist`: the offer-to-accept loop under load. Front-desk workers each repeat: book a slot
for one patient, put a second patient on the waitlist for it, cancel the booking (the calendar
shard offers the freed slot to the waiting patient in the batch that frees it, before the cancel
answers), check the entry is offered, accept the offer. Meanwhile hold/release loops keep the
same calendar's shard busy.

Figures: `offer_ms`, the cancel's round trip, which bounds the time from a cancellation to its
offer (the offer is committed and pushed before the answer); the offer-to-accept cycle. Check:
every cancellation was offered to the waiting patient (never to anyone else)."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta
from typing import Any

import aiohttp

from bench.runner import Options
from bench.scenarios.holds import live_server
from bench.schema import Goal, Result
from bench.stats import percentile
from storage.rfc3339 import format_instant, parse_instant


async def _call(
    http: aiohttp.ClientSession, method: str, path: str, headers: dict[str, str],
    body: Any = None,
) -> tuple[int, Any]:  # fmt: skip
    async with http.request(method, path, json=body, headers=headers) as r:
        text = await r.read()
        return r.status, (await r.json() if text else None)


async def run(opts: Options) -> Result:
    duration = float(opts.pick(opts.duration, 20, 4))
    loops = int(opts.pick(opts.clients, 8, 4))
    noise = int(opts.pick(opts.channels, 8, 2))
    offer_ms: list[float] = []
    cycle_ms: list[float] = []
    accept_ms: list[float] = []
    outcomes: dict[str, int] = {}

    def count(what: str) -> None:
        outcomes[what] = outcomes.get(what, 0) + 1

    async with live_server(specialists=1, interval_min=30) as world:
        async with aiohttp.ClientSession(
            world.base, connector=aiohttp.TCPConnector(limit=0)
        ) as http:
            desk = world.headers()
            patients = []
            for i in range(2 * loops):
                body = {"first_name": f"Wait{i}", "last_name": "Bench"}
                status, created = await _call(http, "POST", "/v1/patients", desk, body)
                assert status == 201, created
                patients.append(created["id"])
            starts = list(world.starts)
            random.Random(7).shuffle(starts)
            mine = [starts[i :: loops + noise] for i in range(loops + noise)]
            deadline = time.monotonic() + duration

            async def loop(w: int) -> None:
                booker, waiter = patients[2 * w], patients[2 * w + 1]
                # One holder per loop: a holder's new hold replaces its previous one.
                desk = world.headers()
                for start in mine[w]:
                    if time.monotonic() > deadline:
                        return
                    t0 = time.perf_counter()
                    body = {"calendar_id": world.calendar_id, "start": start}
                    status, hold = await _call(http, "POST", "/v1/holds", desk, body)
                    if status != 201:
                        count(f"hold {status}")
                        continue
                    book = {"hold_id": hold["id"], "patient_id": booker}
                    status, appt = await _call(http, "POST", "/v1/appointments", desk, book)
                    if status != 201:
                        count(f"book {status}")
                        continue
                    end = parse_instant(start) + timedelta(minutes=30)
                    join = {
                        "patient_id": waiter, "calendar_id": world.calendar_id,
                        "from": start, "to": format_instant(end), "priority": "normal",
                    }  # fmt: skip
                    status, entry = await _call(http, "POST", "/v1/waitlist", desk, join)
                    if status != 201:
                        count(f"join {status}")
                        continue
                    c0 = time.perf_counter()
                    path = f"/v1/appointments/{appt['id']}/cancel"
                    status, _ = await _call(http, "POST", path, desk, {"reason": "bench"})
                    offer_ms.append((time.perf_counter() - c0) * 1000)
                    status, seen = await _call(http, "GET", f"/v1/waitlist/{entry['id']}", desk)
                    if seen["status"] != "offered" or seen["offer"]["start"] != start:
                        count("not offered")
                        continue
                    count("offered")
                    a0 = time.perf_counter()
                    path = f"/v1/waitlist/{entry['id']}/accept"
                    status, accepted = await _call(http, "POST", path, desk)
                    accept_ms.append((time.perf_counter() - a0) * 1000)
                    count(f"accept {status}")
                    if status == 200:
                        # Cancel again so the slot is free for the next round of this loop.
                        path = f"/v1/appointments/{accepted['appointment']['id']}/cancel"
                        await _call(http, "POST", path, desk, {"reason": "bench"})
                    cycle_ms.append((time.perf_counter() - t0) * 1000)

            async def hammer(w: int) -> None:
                rng = random.Random(w)
                while time.monotonic() < deadline:
                    body = {"calendar_id": world.calendar_id, "start": rng.choice(mine[w])}
                    status, hold = await _call(http, "POST", "/v1/holds", world.headers(), body)
                    count(f"noise hold {status}")
                    if status == 201:
                        await _call(http, "DELETE", f"/v1/holds/{hold['id']}", desk)

            await asyncio.gather(
                *(loop(w) for w in range(loops)),
                *(hammer(loops + w) for w in range(noise)),
            )
    offered = outcomes.get("offered", 0)
    return Result(
        scenario="waitlist",
        parameters={"loops": loops, "noise_loops": noise, "duration_s": duration},
        figures={
            "offer_p50_ms": percentile(offer_ms, 50),
            "offer_p99_ms": percentile(offer_ms, 99),
            "accept_p50_ms": percentile(accept_ms, 50),
            "accept_p99_ms": percentile(accept_ms, 99),
            "cycle_p50_ms": percentile(cycle_ms, 50),
            "cycle_p99_ms": percentile(cycle_ms, 99),
            "offers": float(offered),
        },
        goals=[Goal("offer_p99_ms", "<=", 100, "ms")],
        checks={
            "every_cancellation_offered": offered > 0 and outcomes.get("not offered", 0) == 0,
            "every_offer_accepted": outcomes.get("accept 200", 0) == offered,
        },
        series={"offer": offer_ms, "accept": accept_ms, "cycle": cycle_ms},
        notes=[
            "offer_ms: POST .../cancel round trip; the shard commits the offer (and pushes "
            "`waitlist.offered`) in the batch that commits the cancellation, before answering.",
            f"Outcomes: {outcomes}",
        ],
    )
