"""`holds`: live calendars through a real server process (REST -> CalendarShard on Ray).

Figures: sustained hold+release throughput (closed loop), hold latency p50/p99 at a fixed rate
(open loop, default 1,000 holds/s), slot-push latency p99 to N subscribers of the calendar
(publish time from the stream offset to receipt on each socket), and, in the same run, raw Redis
`SET NX PX` operations per second as the physical reference. Checks: a subscriber that took the
snapshot and applied every delta of the run ends with exactly the server's snapshot.
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

from bench.schema import Goal, Result
from bench.server_process import cadence_server
from bench.stats import CpuMeter, percentile
from migrations.runner import migrate
from server import tokens
from storage.db import with_database
from storage.redis import create_redis
from storage.types import Role

SECRET = "bench-secret-" + "x" * 40
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
        await migrate(dsn, "cadence_app")
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
    finally:
        admin = await asyncpg.connect(with_database(base_dsn, "postgres"))
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        finally:
            await admin.close()


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
        return await r.json()  # type: ignore[no-any-return]


async def hold_release(
    http: aiohttp.ClientSession, world: World, headers: dict[str, str], start: str
) -> tuple[int, float]:
    t0 = time.perf_counter()
    async with http.post(
        "/v1/holds", json={"calendar_id": world.calendar_id, "start": start}, headers=headers
    ) as r:
        status = r.status
        body = await r.json()
    elapsed = (time.perf_counter() - t0) * 1000
    if status == 201:
        async with http.delete(f"/v1/holds/{body['id']}", headers=headers) as r:
            assert r.status == 204, await r.text()
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
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.delete(*keys[i : i + 500])
        await client.aclose()


class Subscribers:
    """WebSocket subscribers of the calendar; the first one (the keeper) applies every delta
    to the snapshot it took, the others only time their pushes while `measuring`."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.latencies: list[float] = []
        self.measuring = False
        self.slots: dict[str, Any] = {}
        self.last = ""
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, http: aiohttp.ClientSession) -> None:
        snap = await world_slots(http, self.world)
        self.slots = {s["start"]: s for s in snap["slots"]}
        await self.add(http, 1, snap["position"])

    async def add(
        self, http: aiohttp.ClientSession, count: int, since: dict[str, str] | None = None
    ) -> None:
        ready = [asyncio.Event() for _ in range(count)]
        first = len(self._tasks)
        for i in range(count):
            self._tasks.append(asyncio.create_task(self._one(http, first + i, since, ready[i])))
        for event in ready:
            await asyncio.wait_for(event.wait(), 120)

    async def _one(
        self,
        http: aiohttp.ClientSession,
        i: int,
        since: dict[str, str] | None,
        ready: asyncio.Event,
    ) -> None:
        channel = f"calendar:{self.world.calendar_id}"
        async with http.ws_connect("/v1/ws", max_msg_size=0) as ws:
            frame: dict[str, Any] = {"id": 1, "op": "subscribe", "channel": channel}
            if since is not None:
                frame["since"] = since
            await ws.send_json(frame)
            ready.set()
            async for msg in ws:
                event = orjson.loads(msg.data)
                if event.get("op") != "event":
                    continue
                if self.measuring:
                    now_ms = time.time() * 1000
                    self.latencies.append(now_ms - int(event["offset"].split("-")[0]))
                if i == 0:
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
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def closed_loop(
    world: World, http: aiohttp.ClientSession, clients: int, duration: float
) -> tuple[float, list[float]]:
    granted = 0
    latencies: list[float] = []
    deadline = time.monotonic() + duration

    async def worker(w: int) -> None:
        nonlocal granted
        headers = world.headers()
        rng = random.Random(w)
        while time.monotonic() < deadline:
            status, ms = await hold_release(http, world, headers, rng.choice(world.starts))
            latencies.append(ms)
            granted += status == 201

    started = time.monotonic()
    await asyncio.gather(*(worker(w) for w in range(clients)))
    return granted / (time.monotonic() - started), latencies


async def open_loop(
    world: World, http: aiohttp.ClientSession, rate: float, duration: float, in_flight: int = 256
) -> tuple[float, list[float], int]:
    """Requests started at a fixed rate (at most `in_flight` outstanding: a request that cannot
    start on time is late, so the achieved rate shows it). Returns (rate, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    tasks: set[asyncio.Task[None]] = set()
    gate = asyncio.Semaphore(in_flight)
    headers = [world.headers() for _ in range(64)]
    rng = random.Random(1)

    async def one(n: int) -> None:
        nonlocal errors
        try:
            _, ms = await hold_release(http, world, headers[n % 64], rng.choice(world.starts))
            latencies.append(ms)
        except (aiohttp.ClientError, TimeoutError):
            errors += 1
        finally:
            gate.release()

    started = time.monotonic()
    n = 0
    while time.monotonic() - started < duration:
        due = started + n / rate
        if due > time.monotonic():
            await asyncio.sleep(due - time.monotonic())
        await gate.acquire()
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    return n / (time.monotonic() - started), latencies, errors


async def run(opts) -> Result:  # type: ignore[no-untyped-def]
    clients = int(opts.pick(opts.clients, 64, 16))
    duration = float(opts.pick(opts.duration, 20, 4))
    rate = float(opts.pick(opts.rate, 1000, 200))
    subscribers = int(opts.pick(opts.channels, 1000, 50))
    push_rate, push_duration = 20.0, float(opts.pick(None, 10, 3))
    setnx = await redis_setnx_rate(int(opts.pick(None, 50_000, 5_000)), 50)
    meter = CpuMeter()
    async with live_server(specialists=4, interval_min=15) as world:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(world.base, connector=connector) as http:
            # Subscribers' sockets, plus at most 256 + clients requests in flight.
            subs = Subscribers(world)
            await subs.start(http)
            meter.start()
            throughput, closed_lat = await closed_loop(world, http, clients, duration)
            achieved, open_lat, errors = await open_loop(world, http, rate, duration)
            cpu = meter.stop()
            # Push latency is measured on its own: fanning every delta out to 1,000 sockets
            # (and receiving them all in this process) would otherwise be the throughput test.
            await subs.add(http, subscribers - 1)
            subs.measuring = True
            await open_loop(world, http, push_rate, push_duration)
            subs.measuring = False
            await asyncio.sleep(1.5)
            final = await world_slots(http, world)
            await subs.settle(final["position"]["offset"])
            await subs.stop()
    consistent = {s["start"]: s for s in final["slots"]} == subs.slots
    figures = {
        "holds_per_s": throughput,
        "closed_loop_p50_ms": percentile(closed_lat, 50),
        "closed_loop_p99_ms": percentile(closed_lat, 99),
        "open_loop_rate": achieved,
        "hold_p50_ms": percentile(open_lat, 50),
        "hold_p99_ms": percentile(open_lat, 99),
        "push_p50_ms": percentile(subs.latencies, 50),
        "push_p99_ms": percentile(subs.latencies, 99),
        "pushes_received": float(len(subs.latencies)),
        "client_errors": float(errors),
    }
    return Result(
        scenario="holds",
        parameters={
            "clients": clients,
            "duration_s": duration,
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
            Goal("holds_per_s", ">=", 2000, "holds/s"),
            Goal("hold_p99_ms", "<=", 20, "ms"),
            Goal("push_p99_ms", "<=", 30, "ms"),
        ],
        checks={"snapshot_plus_deltas_equals_snapshot": consistent},
        generators=[{"name": "bench client", "cpu_percent": cpu}],
        series={
            "hold latency (open loop)": open_lat[:20000],
            "push latency": subs.latencies[:20000],
        },
        notes=[
            "holds_per_s counts granted holds, each followed by its release (two REST calls); "
            "hold latency is the POST /v1/holds round trip at the fixed open-loop rate.",
            "Push latency: Redis time of the XADD (the stream offset) to receipt on each socket; "
            "server, Ray actors, Redis, Postgres and this load generator share the machine.",
        ],
    )
