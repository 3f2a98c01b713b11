"""`webhooks`: domain events out to a webhook receiver, through the consumer group, the delivery
table and the signing sender, while front-desk staff book and a booking page watches.

Measured, against a local receiver that verifies every signature (Standard Webhooks):
- mutation to delivery: from sending a booking to its `appointment.booked` webhook arriving;
- a burst of events published into the organization's stream: deliveries per second and
  publish-to-arrival latency;
- slot-push latency on a watched calendar while the webhooks flow (the booking scenario's goal).
Peer, in the same run: a plain `XREADGROUP` loop over the same stream that POSTs each entry to
the receiver and acknowledges it (no delivery log, no retry, no signature), on its own burst.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from bench import clinic as cl
from bench.runner import Options
from bench.schema import Goal, Result, Skip
from bench.server_process import free_port, live_stack, redis_url
from bench.stats import percentile
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis
from storage.types import Channel, Role

PEER_GROUP = "bench-peer"


class Receiver:
    """The webhook receiver: verifies, dedupes by `webhook-id`, records arrival times."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrivals: dict[str, float] = {}  # webhook-id -> first arrival (time.time())
        self.booked: dict[str, float] = {}  # appointment id -> arrival of appointment.booked
        self.burst: dict[int, float] = {}  # burst event n -> arrival
        self.peer: dict[int, float] = {}
        self.duplicates = 0
        self.bad_signatures = 0

    async def ours(self, request: web.Request) -> web.Response:
        now = time.time()
        body = await request.read()
        try:
            Webhook(self.secret).verify(body, dict(request.headers))
        except Exception:  # noqa: BLE001 - counted: a bench result, not a crash
            self.bad_signatures += 1
            return web.Response(status=400)
        hook_id = request.headers["webhook-id"]
        if hook_id in self.arrivals:
            self.duplicates += 1
            return web.Response(status=204)
        self.arrivals[hook_id] = now
        payload = orjson.loads(body)
        data = payload.get("data", {})
        if payload.get("type") == "appointment.booked":
            self.booked[str(data.get("appointment_id"))] = now
        elif payload.get("type") == "bench.ping":
            self.burst[int(data["n"])] = now
        return web.Response(status=204)

    async def peer_hook(self, request: web.Request) -> web.Response:
        now = time.time()
        payload = orjson.loads(await request.read())
        self.peer.setdefault(int(payload["data"]["n"]), now)
        return web.Response(status=204)


async def _serve_receiver(receiver: Receiver) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_post("/ours", receiver.ours)
    app.router.add_post("/peer", receiver.peer_hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def _book(
    http: aiohttp.ClientSession, clinic: cl.Clinic, duration_s: float, workers: int
) -> dict[str, float]:
    """Front-desk loops: hold, book, cancel (the slot frees again). Returns the send time of
    each booking by appointment id."""
    sent: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {clinic.bearer(Role.RECEPTIONIST)}"}
    deadline = time.monotonic() + duration_s

    async def worker(w: int) -> None:
        rng = random.Random(w)
        patient = clinic.patients[w % len(clinic.patients)]
        while time.monotonic() < deadline:
            cal = rng.choice(clinic.calendars)
            body = {"calendar_id": cal.id, "start": rng.choice(cal.starts)}
            async with http.post("/v1/holds", json=body, headers=headers) as r:
                hold = await r.json()
            if r.status != 201:
                continue
            t0 = time.time()
            book = {"hold_id": hold["id"], "patient_id": patient}
            async with http.post("/v1/appointments", json=book, headers=headers) as r:
                appt = await r.json()
            if r.status != 201:
                continue
            sent[appt["id"]] = t0
            path = f"/v1/appointments/{appt['id']}/cancel"
            async with http.post(path, json={"reason": "bench"}, headers=headers) as r:
                await r.read()

    await asyncio.gather(*(worker(w) for w in range(workers)))
    return sent


async def _burst(log: EventLog, org: uuid.UUID, kind: str, total: int) -> dict[int, float]:
    """Publish `total` events into the organization's stream as fast as one client can."""
    channel = Channel.org(org).name
    published: dict[int, float] = {}
    for start in range(0, total, 100):
        batch = range(start, min(total, start + 100))
        now = time.time()
        await log.publish_many([(channel, kind, {"n": n}) for n in batch])
        published.update(dict.fromkeys(batch, now))
    return published


async def _peer_loop(
    log_redis: Any, stream: str, url: str, stop: asyncio.Event, concurrency: int
) -> None:
    """The peer: XREADGROUP, POST each entry's frame, XACK; `concurrency` loops in one group."""

    async def loop(name: str) -> None:
        async with aiohttp.ClientSession() as http:
            while not stop.is_set():
                reply = await log_redis.xreadgroup(PEER_GROUP, name, {stream: ">"}, 50, 200)
                for _, entries in reply or []:
                    for entry_id, fields in entries:
                        async with http.post(url, data=fields[b"f"]) as r:
                            await r.read()
                        await log_redis.xack(stream, PEER_GROUP, entry_id)

    await asyncio.gather(*(loop(f"peer-{i}") for i in range(concurrency)))


async def _wait(done: Any, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not done() and time.monotonic() < deadline:  # noqa: ASYNC110 - bounded poll
        await asyncio.sleep(0.05)


def _lat(published: dict[int, float], arrived: dict[int, float]) -> list[float]:
    return [(arrived[n] - published[n]) * 1000 for n in published if n in arrived]


async def run(opts: Options) -> Result:
    duration = opts.pick(opts.duration, 20, 5)
    burst = int(opts.pick(opts.rate, 3000, 500))
    workers = int(opts.pick(opts.clients, 8, 4))
    receiver = Receiver()
    receiver_runner, port = await _serve_receiver(receiver)
    try:
        async with live_stack() as server:
            clinic = await cl.build(server, calendars=2, specialists=3, patients=20)
            admin = {"Authorization": f"Bearer {clinic.bearer(Role.ADMIN)}"}
            async with aiohttp.ClientSession(server.base) as http:
                body = {
                    "url": f"http://127.0.0.1:{port}/ours",
                    "event_types": ["appointment.booked", "bench.*"],
                }
                async with http.post("/v1/webhooks/endpoints", json=body, headers=admin) as r:
                    if r.status == 404:
                        raise Skip("webhook endpoints are not mounted on this tree")
                    created = await r.json()
                    if r.status != 201:
                        raise RuntimeError(f"endpoint: {r.status} {created}")
                receiver.secret = created["secret"]

                # Phase 1: bookings while a booking page watches the calendar.
                watcher = cl.Watcher(keep=False)
                snap = await cl.slots(http, clinic.calendars[0].id, admin)
                ready = asyncio.Event()
                channel = Channel.calendar(uuid.UUID(clinic.calendars[0].id)).name
                watch = asyncio.create_task(
                    watcher.run(http, "/v1/ws", channel, snap["position"], ready)
                )
                await asyncio.wait_for(ready.wait(), 30)
                sent = await _book(http, clinic, duration, workers)
                await _wait(lambda: all(a in receiver.booked for a in sent), 60)
                watch.cancel()
                mutation = [
                    (receiver.booked[a] - t0) * 1000
                    for a, t0 in sent.items()
                    if a in receiver.booked
                ]
                pushes = [ms for _, ms in watcher.latencies]

            # Phase 2: a burst straight into the organization's stream, then the peer's burst.
            redis = create_redis(redis_url())
            log = EventLog(redis, KeySpace(server.redis_prefix))
            stream = KeySpace(server.redis_prefix).stream(Channel.org(clinic.org_id).name)
            try:
                started = time.time()
                ours_pub = await _burst(log, clinic.org_id, "bench.ping", burst)
                await _wait(lambda: len(receiver.burst) >= burst, 300)
                ours_rate = len(receiver.burst) / max(1e-9, max(receiver.burst.values()) - started)

                await redis.xgroup_create(stream, PEER_GROUP, id="$", mkstream=True)
                stop = asyncio.Event()
                peer = asyncio.create_task(
                    _peer_loop(redis, stream, f"http://127.0.0.1:{port}/peer", stop, 16)
                )
                started = time.time()
                peer_pub = await _burst(log, clinic.org_id, "peer.ping", burst)
                await _wait(lambda: len(receiver.peer) >= burst, 300)
                peer_rate = len(receiver.peer) / max(1e-9, max(receiver.peer.values()) - started)
                stop.set()
                await asyncio.wait_for(peer, 10)
            finally:
                await redis.aclose()
    finally:
        await receiver_runner.cleanup()
    ours_lat, peer_lat = _lat(ours_pub, receiver.burst), _lat(peer_pub, receiver.peer)
    figures = {
        "mutation_to_delivery_p50_ms": percentile(mutation, 50),
        "mutation_to_delivery_p99_ms": percentile(mutation, 99),
        "deliveries_per_s": ours_rate,
        "burst_delivery_p50_ms": percentile(ours_lat, 50),
        "burst_delivery_p99_ms": percentile(ours_lat, 99),
        "push_p99_ms": percentile(pushes, 99),
        "bookings": float(len(sent)),
        "undelivered_bookings": float(sum(1 for a in sent if a not in receiver.booked)),
        "duplicates": float(receiver.duplicates),
        "bad_signatures": float(receiver.bad_signatures),
    }
    baseline = {
        "deliveries_per_s": peer_rate,
        "burst_delivery_p50_ms": percentile(peer_lat, 50),
        "burst_delivery_p99_ms": percentile(peer_lat, 99),
    }
    return Result(
        scenario="webhooks",
        parameters={"duration_s": duration, "burst": burst, "workers": workers},
        figures=figures,
        baseline_name="plain XREADGROUP loop POSTing each entry (16 consumers, no log/retry/sign)",
        baseline=baseline,
        ratios={k: figures[k] / baseline[k] for k in baseline if baseline[k]},
        goals=[
            Goal("push_p99_ms", "<=", 30, "ms"),
            Goal("undelivered_bookings", "<=", 0, ""),
            Goal("bad_signatures", "<=", 0, ""),
        ],
        series={
            "mutation to delivery": mutation,
            "burst (ours)": ours_lat,
            "burst (peer)": peer_lat,
        },
        notes=[
            "Ours: the webhooks consumer group writes one delivery row per endpoint, the sender "
            "claims due rows (SKIP LOCKED), signs and POSTs them and logs each attempt; the peer "
            "does none of that. Deliveries per second run from the first publish to the last "
            "arrival of each burst."
        ],
    )
