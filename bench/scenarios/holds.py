"""`holds`: live calendars through a real server process (REST -> CalendarShard on Ray).

Figures: sustained hold+release throughput (closed loop), hold latency p50/p99 at a fixed rate
(open loop, default a tenth of the raw Redis peer's ops/s), slot-push latency p99 to N
subscribers of the calendar (publish time from the stream offset to receipt on each socket),
and, in the same run, raw Redis `SET NX PX` operations per second as the physical reference.
Checks: a subscriber that took the snapshot and applied every delta of the run ends with
exactly the server's snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench.generators import Fleet, Link, split
from bench.http_load import LOAD_ERRORS, LoadClient
from bench.runner import Options
from bench.schema import Goal, Result
from bench.server_process import cadence_server
from bench.stats import percentile
from migrations.runner import migrate
from server import tokens
from storage.db import with_database
from storage.redis import create_redis
from storage.types import Role

SECRET = "bench-secret-" + "x" * 40
PEER_SHARE_OFFERED = 0.1  # open-loop hold rate, as a share of raw Redis SET NX ops/s
PEER_SHARE_GOAL = 0.25  # closed-loop holds/s goal, as a share of the same
EVERY_DAY = [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(1, 8)]


@dataclass
class World:
    base: str
    org_id: uuid.UUID
    calendar_id: str
    starts: list[str]  # slot starts of the calendar

    def token(self, role: Role = Role.RECEPTIONIST) -> str:
        return tokens.issue(SECRET, role=role, org_id=self.org_id, user_id=uuid.uuid4(), ttl_s=3600)

    def headers(self, role: Role = Role.RECEPTIONIST) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


@contextlib.asynccontextmanager
async def live_server(specialists: int = 1, interval_min: int = 60) -> AsyncIterator[World]:
    """A fresh database, a `cadence serve` process and one calendar with its slots."""
    base_dsn = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"cadence_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(with_database(base_dsn, "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = with_database(base_dsn, name)
    try:
        await migrate(dsn, os.environ.get("CADENCE_DB_APP_PASSWORD", "cadence_app"))
        env = {
            "DATABASE_URL": dsn,
            "CADENCE_SECRET": SECRET,
            "CADENCE_ENV": "test",
            "CADENCE_REDIS_PREFIX": f"bench-{secrets.token_hex(3)}:",
        }
        server = cadence_server(env)
        base = await asyncio.to_thread(server.__enter__)
        try:
            yield await _world(base, dsn, specialists, interval_min)
        finally:
            await asyncio.to_thread(server.__exit__, None, None, None)
            await _forget(env["CADENCE_REDIS_PREFIX"])
    finally:
        admin = await asyncpg.connect(with_database(base_dsn, "postgres"))
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            await admin.close()


async def _forget(prefix: str) -> None:
    """Remove a run's Redis keys (a server run leaves about 60,000 hold records, kept an hour
    for late lookups), so that the next scenarios do not run beside them."""
    client = create_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        batch: list[str] = []
        async for key in client.scan_iter(match=f"{prefix}*", count=5_000):
            batch.append(key)
            if len(batch) >= 1_000:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)
    finally:
        await client.aclose()


async def _world(base: str, dsn: str, specialists: int, interval_min: int) -> World:
    conn = await asyncpg.connect(dsn)
    try:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug, timezone) VALUES ('Bench', $1, 'UTC')"
            " RETURNING id",
            "b-" + secrets.token_hex(5),
        )
    finally:
        await conn.close()
    world = World(base, org, "", [])
    admin = world.headers(Role.ADMIN)
    async with aiohttp.ClientSession(base) as http:

        async def post(path: str, body: Any, method: str = "POST") -> Any:
            async with http.request(method, path, json=body, headers=admin) as r:
                assert r.status in (200, 201), (path, r.status, await r.text())
                return await r.json()

        price = {"amount": 1, "currency": "RON"}
        service = await post(
            "/v1/services",
            {
                "name": "Physio",
                "duration_min": interval_min,
                "modality": "in_clinic",
                "price": price,
            },
        )
        members = []
        for n in range(specialists):
            spec = await post("/v1/specialists", {"name": f"S{n}", "timezone": "UTC"})
            await post(f"/v1/specialists/{spec['id']}/weekly-hours", {"hours": EVERY_DAY}, "PUT")
            members.append({"id": spec["id"], "priority": n})
        cal = await post(
            "/v1/calendars",
            {
                "name": "Bench",
                "service_id": service["id"],
                "timezone": "UTC",
                "public": True,
                "slot_interval_min": interval_min,
                "horizon_days": 30,
                "assignment": "priority",
                "specialists": members,
                "hold_ttl_s": 600,
            },
        )
        world.calendar_id = cal["id"]
        snap = await world_slots(http, world)
    world.starts = [s["start"] for s in snap["slots"]]
    return world


async def world_slots(http: aiohttp.ClientSession, world: World) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    to = (today + timedelta(days=40)).isoformat()
    path = f"/v1/public/calendars/{world.calendar_id}/slots?from={today.isoformat()}&to={to}"
    async with http.get(path) as r:
        assert r.status == 200, await r.text()
        result: dict[str, Any] = await r.json()
        return result


@dataclass(frozen=True)
class Target:
    """What a load generator process needs: the server, the calendar, its slots and tokens."""

    base: str
    calendar_id: str
    starts: list[str]
    headers: list[dict[str, str]]


def target(world: World, tokens: int = 64) -> Target:
    return Target(
        world.base, world.calendar_id, world.starts, [world.headers() for _ in range(tokens)]
    )


async def hold_release(
    http: LoadClient, t: Target, headers: dict[str, str], start: str
) -> tuple[int, float]:
    t0 = time.perf_counter()
    status, body = await http.request(
        "POST", "/v1/holds", headers, {"calendar_id": t.calendar_id, "start": start}
    )
    elapsed = (time.perf_counter() - t0) * 1000
    if status == 201:
        hold_id = orjson.loads(body)["id"]
        released, answer = await http.request("DELETE", f"/v1/holds/{hold_id}", headers)
        assert released == 204, answer
    elif status != 409:  # taken meanwhile by another client: the only expected refusal
        raise AssertionError(f"hold answered {status}: {body[:200]!r}")
    return status, elapsed


async def redis_setnx_rate(total: int, concurrency: int) -> float:
    client = create_redis(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), max_connections=concurrency + 5
    )
    prefix = f"bench-setnx-{secrets.token_hex(3)}:"
    try:

        async def worker(w: int) -> None:
            for i in range(total // concurrency):
                await client.set(f"{prefix}{w}:{i}", "h", nx=True, px=60_000)

        started = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        return (total // concurrency * concurrency) / (time.perf_counter() - started)
    finally:
        await client.aclose()
        await _forget(prefix)


class Keeper:
    """One subscriber in the runner that takes the snapshot and applies every delta of the run:
    at the end its copy must equal the server's snapshot (invariant 3 under load)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.slots: dict[str, Any] = {}
        self.last = ""
        self._task: asyncio.Task[None] | None = None

    async def start(self, http: aiohttp.ClientSession) -> None:
        snap = await world_slots(http, self.world)
        self.slots = {s["start"]: s for s in snap["slots"]}
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(http, snap["position"], ready))
        await asyncio.wait_for(ready.wait(), 30)

    async def _run(
        self, http: aiohttp.ClientSession, since: dict[str, str], ready: asyncio.Event
    ) -> None:
        channel = f"calendar:{self.world.calendar_id}"
        async with http.ws_connect("/v1/ws", max_msg_size=0) as ws:
            await ws.send_json({"id": 1, "op": "subscribe", "channel": channel, "since": since})
            ready.set()
            async for msg in ws:
                event = orjson.loads(msg.data)
                if event.get("op") != "event":
                    continue
                for gone in event["data"]["removed"]:
                    self.slots.pop(gone["start"], None)
                for slot in event["data"]["upserted"]:
                    self.slots[slot["start"]] = slot
                self.last = event["offset"]

    async def settle(self, offset: str) -> None:
        """Wait (bounded) until the keeper applied the delta at `offset`."""
        deadline = time.monotonic() + 15
        while self.last != offset and offset != "0-0" and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def closed_loop(
    t: Target,
    http: LoadClient,
    clients: int,
    duration: float,
    seed: int = 0,
    warmup: float = 0.0,
) -> tuple[float, list[float]]:
    """`clients` workers, each one hold+release after another; for `warmup` seconds first
    nothing is recorded (connections open, caches fill, generator processes settle)."""
    granted = 0
    latencies: list[float] = []
    measured = time.monotonic() + warmup
    deadline = measured + duration

    async def worker(w: int) -> None:
        nonlocal granted
        headers = t.headers[w % len(t.headers)]
        rng = random.Random(seed * 10_000 + w)
        while (begun := time.monotonic()) < deadline:
            status, ms = await hold_release(http, t, headers, rng.choice(t.starts))
            if begun >= measured:
                latencies.append(ms)
                granted += status == 201

    await asyncio.gather(*(worker(w) for w in range(clients)))
    return granted / (time.monotonic() - measured), latencies


async def open_loop(
    t: Target,
    http: LoadClient,
    rate: float,
    duration: float,
    in_flight: int = 256,
    seed: int = 0,
    warmup: float = 0.0,
) -> tuple[float, list[float], int]:
    """Requests started at a fixed rate (at most `in_flight` outstanding: a request that cannot
    start on time is late, so the achieved rate shows it), for `warmup` seconds unrecorded,
    then `duration` seconds recorded. Returns (rate, latencies, errors) of the recorded part."""
    latencies: list[float] = []
    errors = 0
    tasks: set[asyncio.Task[None]] = set()
    gate = asyncio.Semaphore(in_flight)
    rng = random.Random(seed + 1)

    async def one(n: int, record: bool) -> None:
        nonlocal errors
        try:
            headers = t.headers[n % len(t.headers)]
            _, ms = await hold_release(http, t, headers, rng.choice(t.starts))
            if record:
                latencies.append(ms)
        except LOAD_ERRORS:
            errors += record
        finally:
            gate.release()

    started = time.monotonic()
    measured = started + warmup
    n = recorded = 0
    while time.monotonic() - started < warmup + duration:
        due = started + n / rate
        if due > time.monotonic():
            await asyncio.sleep(due - time.monotonic())
        await gate.acquire()
        record = time.monotonic() >= measured
        recorded += record
        task = asyncio.create_task(one(n, record))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    return recorded / (time.monotonic() - measured), latencies, errors


async def load_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """A generator process: a closed loop of `clients` hold+release workers, or an open loop
    at `rate` holds/s, for `duration` seconds after the common start."""
    t: Target = arg["target"]
    http = LoadClient(t.base)
    try:
        await link.ready()
        await link.wait_go()
        if arg["mode"] == "closed":
            granted, lat = await closed_loop(
                t, http, arg["clients"], arg["duration"], index, arg["warmup"]
            )
            return {"granted_per_s": granted, "latencies": lat, "errors": 0}
        rate, lat, errors = await open_loop(
            t, http, arg["rate"], arg["duration"], arg["in_flight"], index, arg["warmup"]
        )
        return {"rate": rate, "latencies": lat, "errors": errors}
    finally:
        await http.close()


async def push_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """A generator process holding `count` subscribers of the calendar; after the common start
    it times every push for `window_s` (stream offset time to receipt)."""
    t: Target = arg["target"]
    latencies: list[float] = []
    measuring = False
    opened = asyncio.Semaphore(50)  # open sockets 50 at a time, not as one thundering herd

    async def subscriber(http: aiohttp.ClientSession, ready: asyncio.Event) -> None:
        async with opened:
            # Anonymous, as a public booking page: the calendar is public.
            ws = await http.ws_connect("/v1/ws", max_msg_size=0)
            await ws.send_json({"id": 1, "op": "subscribe", "channel": f"calendar:{t.calendar_id}"})
            async for msg in ws:
                reply = orjson.loads(msg.data)
                if reply.get("id") == 1:
                    assert reply.get("op") == "ok", reply
                    break
        ready.set()
        async for msg in ws:
            if measuring:
                event = orjson.loads(msg.data)
                if event.get("op") == "event":
                    latencies.append(time.time() * 1000 - int(event["offset"].split("-")[0]))

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(t.base, connector=connector) as http:
        ready = [asyncio.Event() for _ in range(arg["count"])]
        tasks = [asyncio.create_task(subscriber(http, r)) for r in ready]
        for event in ready:
            await asyncio.wait_for(event.wait(), 120)
        await link.ready()
        await link.wait_go()
        measuring = True
        await asyncio.sleep(arg["window_s"])
        measuring = False
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {"latencies": latencies}


async def drive(
    name: str, target_fn: str, args: list[dict[str, Any]]
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Start the generator processes, release them together, collect data and CPU reports."""
    async with Fleet(target_fn, args, name) as fleet:
        await fleet.ready()
        data = await fleet.results()
        return data, fleet.reports


async def run(opts: Options) -> Result:
    clients = int(opts.pick(opts.clients, 64, 16))
    duration = float(opts.pick(opts.duration, 20, 4))
    subscribers = int(opts.pick(opts.channels, 1000, 50))
    push_rate, push_duration = 20.0, float(opts.pick(None, 10, 3))
    # Each load runs this long unrecorded first: the generator processes have just started
    # (imports, new connections) and compete with the server for the 2 cores meanwhile.
    warmup = float(opts.pick(None, 3, 1))
    # Two generator processes for each load: one Python process tops out near one core.
    procs = 2
    setnx = await redis_setnx_rate(int(opts.pick(None, 50_000, 5_000)), 50)
    # The fixed rate is a tenth of the physical reference measured just now, so the latency
    # goal scales with the machine (a slow day offers less).
    rate = float(opts.pick(opts.rate, round(PEER_SHARE_OFFERED * setnx), 200))
    reports: list[dict[str, Any]] = []
    async with live_server(specialists=4, interval_min=15) as world:
        t = target(world)
        async with aiohttp.ClientSession(world.base) as http:
            keeper = Keeper(world)
            await keeper.start(http)
            closed, rep = await drive("closed loop", "bench.scenarios.holds:load_gen", [
                {"target": t, "mode": "closed", "clients": k, "duration": duration,
                 "warmup": warmup}
                for k in split(clients, procs)
            ])  # fmt: skip
            reports += rep
            opened, rep = await drive("open loop", "bench.scenarios.holds:load_gen", [
                {"target": t, "mode": "open", "rate": rate / procs, "duration": duration,
                 "in_flight": 256 // procs, "warmup": warmup}
                for _ in range(procs)
            ])  # fmt: skip
            reports += rep
            # Push latency is measured on its own, at a low hold rate: fanning every delta of
            # the throughput phases out to 1,000 sockets would be a fan-out test instead.
            async with Fleet("bench.scenarios.holds:push_gen", [
                {"target": t, "count": k, "window_s": push_duration + 1.5}
                for k in split(subscribers - 1, procs)
            ], "subscribers") as fleet:  # fmt: skip
                await fleet.ready()
                pushes = asyncio.create_task(fleet.results())
                load = LoadClient(world.base)
                try:
                    await open_loop(t, load, push_rate, push_duration)
                finally:
                    await load.close()
                pushed = await pushes
                reports += fleet.reports
            final = await world_slots(http, world)
            await keeper.settle(final["position"]["offset"])
            await keeper.stop()
    throughput = sum(d["granted_per_s"] for d in closed)
    closed_lat = [x for d in closed for x in d["latencies"]]
    achieved = sum(d["rate"] for d in opened)
    open_lat = [x for d in opened for x in d["latencies"]]
    errors = sum(d["errors"] for d in opened)
    push_lat = [x for d in pushed for x in d["latencies"]]
    consistent = {s["start"]: s for s in final["slots"]} == keeper.slots
    figures = {
        "holds_per_s": throughput,
        "closed_loop_p50_ms": percentile(closed_lat, 50),
        "closed_loop_p99_ms": percentile(closed_lat, 99),
        "open_loop_rate": achieved,
        "hold_p50_ms": percentile(open_lat, 50),
        "hold_p99_ms": percentile(open_lat, 99),
        "push_p50_ms": percentile(push_lat, 50),
        "push_p99_ms": percentile(push_lat, 99),
        "pushes_received": float(len(push_lat)),
        "client_errors": float(errors),
    }
    return Result(
        scenario="holds",
        parameters={
            "clients": clients,
            "duration_s": duration,
            "warmup_s": warmup,
            "rate": rate,
            "subscribers": subscribers,
            "push_phase_holds_per_s": push_rate,
            "specialists": 4,
            "slot_min": 15,
        },
        figures=figures,
        baseline_name="raw Redis SET NX PX (ops/s)",
        baseline={"holds_per_s": setnx},
        ratios={"holds_per_s": throughput / setnx if setnx else 0.0},
        goals=[
            Goal("ratio:holds_per_s", ">=", PEER_SHARE_GOAL, "x SET NX"),
            Goal("hold_p99_ms", "<=", 20, "ms"),
            Goal("push_p99_ms", "<=", 30, "ms"),
        ],
        checks={"snapshot_plus_deltas_equals_snapshot": consistent},
        generators=reports,
        series={
            "hold latency (open loop)": open_lat[:20000],
            "push latency": push_lat[:20000],
        },
        notes=[
            "holds_per_s counts granted holds, each followed by its release (two REST calls); "
            "hold latency is the POST /v1/holds round trip at the fixed open-loop rate "
            f"({PEER_SHARE_OFFERED:g} x the SET NX peer's ops/s unless --rate is given).",
            f"Push latency is measured in its own phase, {push_rate:g} holds/s to {subscribers} "
            "subscribers: every delta of the open-loop phase to every subscriber would be "
            "a fan-out test (the fanout scenario).",
            "Push latency: Redis time of the XADD (the stream offset) to receipt on each socket; "
            "server, Ray actors, Redis, Postgres and the generator processes share the machine.",
            f"Each load runs in {procs} generator processes (closed loop, open loop, "
            "subscribers); the runner keeps one subscriber that applies every delta.",
        ],
    )
