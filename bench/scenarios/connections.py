"""`connections`: idle WebSocket connections (up to 10,000) held by one server process, and the
memory each costs: the server process's RSS with N idle subscribers minus its RSS before, over N.
Peer, in the same run: python-socketio (aiohttp AsyncServer with AsyncRedisManager, its own
process) holding the same number of idle Engine.IO WebSocket clients, each in one room.

Each Cadence connection authenticates with a staff token (Authorization header) and subscribes to
its organization's channel; connections are opened at a pace below the gateway's per-address
limit (5,000 per 10 s). Check, for both systems: once all are open, one event published through
Redis reaches every connection (no idle connection was silently dropped).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import secrets
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import orjson
import psutil

from bench.generators import Fleet, Link, split
from bench.progress import Progress
from bench.runner import Options
from bench.schema import Goal, Result, Skip
from bench.server_process import free_port, live_stack, redis_url, token
from storage.types import Role

OPEN_RATE = 400.0  # connections/s over all generators: under the gateway's 500/s per address


def _socketio_server(port: int, channel: str, url: str) -> None:
    import socketio
    from aiohttp import web

    mgr = socketio.AsyncRedisManager(url, channel=channel)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr, cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)

    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        return "ok"

    sio.on("join", join)  # the call form: socketio's decorator is untyped

    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=4096)


@contextmanager
def socketio_process(channel: str) -> Iterator[tuple[str, int]]:
    """The peer server in its own process: (ws URL, pid)."""
    port = free_port()
    proc = mp.get_context("spawn").Process(
        target=_socketio_server, args=(port, channel, redis_url()), daemon=True
    )
    proc.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
                with urllib.request.urlopen(probe, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or not proc.is_alive():
                    raise RuntimeError("python-socketio peer did not start") from None
                time.sleep(0.2)
        assert proc.pid is not None
        yield f"ws://127.0.0.1:{port}", proc.pid
    finally:
        proc.terminate()
        proc.join(10)


async def _cadence_conn(arg: dict[str, Any], opened: asyncio.Event, got: list[int]) -> None:
    import websockets

    async with websockets.connect(
        arg["url"], additional_headers={"Authorization": f"Bearer {arg['token']}"},
        compression=None, open_timeout=60, ping_interval=None, max_queue=16,
    ) as ws:  # fmt: skip
        subscribe = {"id": 1, "op": "subscribe", "channel": arg["channel"]}
        await ws.send(orjson.dumps(subscribe).decode())  # text frame: binary is for camera images
        reply = orjson.loads(await ws.recv())
        if reply.get("op") != "ok":
            raise RuntimeError(f"subscribe refused: {reply}")
        opened.set()
        async for raw in ws:
            if orjson.loads(raw).get("op") == "event":
                got[0] += 1


async def _socketio_conn(arg: dict[str, Any], opened: asyncio.Event, got: list[int]) -> None:
    import websockets

    async with websockets.connect(
        arg["url"] + "/socket.io/?EIO=4&transport=websocket",
        compression=None, open_timeout=60, ping_interval=None, max_queue=16,
    ) as ws:  # fmt: skip
        await ws.recv()  # 0{...}: Engine.IO open
        await ws.send("40")
        await ws.recv()  # 40{"sid": ...}
        await ws.send('420["join","' + arg["channel"] + '"]')
        async for raw in ws:
            if raw == "2":  # Engine.IO ping: the server closes clients that do not answer
                await ws.send("3")
            elif isinstance(raw, str) and raw.startswith("430"):
                opened.set()
            elif isinstance(raw, str) and raw.startswith("42"):
                got[0] += 1


async def idle_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """Open `n` connections at `rate`/s, report ready, then wait for the broadcast."""
    conn = _cadence_conn if arg["system"] == "cadence" else _socketio_conn
    counters = [[0] for _ in range(arg["n"])]
    opened = [asyncio.Event() for _ in range(arg["n"])]
    tasks = []
    started = time.monotonic()
    for i in range(arg["n"]):
        due = started + i / arg["rate"]
        if due > time.monotonic():
            await asyncio.sleep(due - time.monotonic())
        tasks.append(asyncio.create_task(conn(arg, opened[i], counters[i])))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(e.is_set() for e in opened):
        if all(t.done() for t, e in zip(tasks, opened, strict=True) if not e.is_set()):
            break  # the rest failed: no point waiting
        await asyncio.sleep(0.1)
    open_s = time.monotonic() - started
    failed = [t for t in tasks if t.done()]
    errors = sorted({repr(t.exception())[:200] for t in failed if t.exception()})[:3]
    await link.ready({"opened": sum(e.is_set() for e in opened), "errors": errors})
    await link.wait_go(reset_window=False)
    deadline = time.monotonic() + 60
    waiting = [c for c, e in zip(counters, opened, strict=True) if e.is_set()]
    # Polling: the counters are plain ints bumped by many tasks, bounded by the deadline.
    while time.monotonic() < deadline and any(c[0] < 1 for c in waiting):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    alive = sum(not t.done() for t in tasks)
    received = sum(1 for c in counters if c[0] >= 1)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"alive": alive, "received": received, "open_s": open_s}


async def _measure(
    system: str, url: str, pid: int, n: int, generators: int, make_arg: Any, publish: Any,
    settle_s: float = 2.0,
) -> dict[str, Any]:  # fmt: skip
    server = psutil.Process(pid)
    rss_before = server.memory_info().rss
    args = [
        {**make_arg(), "system": system, "url": url, "n": k, "rate": OPEN_RATE / generators}
        for k in split(n, generators)
    ]
    async with Fleet("bench.scenarios.connections:idle_gen", args, f"{system} clients") as fleet:
        bar = Progress(f"{system}: opening {n:,} connections", n / OPEN_RATE)
        ticker = asyncio.create_task(bar.tick(n / OPEN_RATE))
        try:
            infos = await fleet.ready(within_s=n / OPEN_RATE + 180)
        finally:
            ticker.cancel()
        await asyncio.sleep(settle_s)  # let the server settle its buffers before reading its RSS
        rss_after = server.memory_info().rss
        opened = sum(i["opened"] for i in infos)
        await publish()
        data = await fleet.results()
        reports = fleet.reports
    return {
        "opened": opened,
        "errors": [e for i in infos for e in i["errors"]],
        "alive": sum(d["alive"] for d in data),
        "received": sum(d["received"] for d in data),
        "open_s": max(d["open_s"] for d in data),
        "rss_before_mb": rss_before / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "kb_per_connection": (rss_after - rss_before) / max(opened, 1) / 1024,
        "generators": reports,
    }


async def _seed_org(dsn: str) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        org: uuid.UUID = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id",
            f"bench-{secrets.token_hex(4)}",
        )
        return org
    finally:
        await conn.close()


async def _gateway_answers(ws_url: str, bearer: str, channel: str) -> str | None:
    """None when GET /v1/ws subscribes as PROTOCOL.md says; else what went wrong."""
    arg = {"url": ws_url, "token": bearer, "channel": channel}
    opened = asyncio.Event()
    task = asyncio.create_task(_cadence_conn(arg, opened, [0]))
    try:
        async with asyncio.timeout(15):
            while not opened.is_set():
                if task.done():
                    return repr(task.exception())[:300]
                await asyncio.sleep(0.05)
        return None
    except TimeoutError:
        return "no answer to subscribe within 15 s"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def run(opts: Options) -> Result:
    n = int(opts.pick(opts.clients, 10_000, 200))
    generators = 2
    settle = 0.5 if opts.quick else 2.0
    from storage.events import EventLog
    from storage.keys import KeySpace
    from storage.redis import create_redis
    from storage.types import Channel

    figures: dict[str, float] = {}
    peer: dict[str, float] = {}
    checks: dict[str, bool] = {}
    reports: list[dict[str, Any]] = []
    notes = [
        f"{n:,} idle connections from {generators} generator processes, opened at "
        f"{OPEN_RATE:.0f}/s; memory per connection = (server RSS with them - RSS before) / N."
    ]
    if opts.url:
        raise Skip("memory per connection reads the server process's RSS: run without --url")
    async with live_stack() as server:
        dsn = server.dsn
        org = await _seed_org(dsn)
        channel = Channel.org(org).name
        bearer = token(org, Role.RECEPTIONIST, ttl_s=7200)
        problem = await _gateway_answers(server.ws, bearer, channel)
        if problem:
            raise Skip(f"the WebSocket gateway at /v1/ws is not working yet: {problem}")
        redis = create_redis(redis_url())
        log = EventLog(redis, KeySpace(server.redis_prefix))

        async def publish_cadence() -> None:
            await log.publish(channel, "dashboard.updated", {"bench": True})

        try:
            ours = await _measure(
                "cadence", server.ws, server.pid, n, generators,
                lambda: {"token": bearer, "channel": channel}, publish_cadence, settle,
            )  # fmt: skip
        finally:
            await redis.aclose()
    room = f"room-{secrets.token_hex(3)}"
    sio_channel = f"bench-sio-{secrets.token_hex(3)}"
    with socketio_process(sio_channel) as (sio_url, sio_pid):
        import socketio

        mgr = socketio.AsyncRedisManager(redis_url(), channel=sio_channel, write_only=True)

        async def publish_sio() -> None:
            await mgr.emit("note", {"bench": True}, room=room, namespace="/")

        theirs = await _measure(
            "python-socketio", sio_url, sio_pid, n, generators,
            lambda: {"channel": room}, publish_sio, settle,
        )  # fmt: skip
    for side, m in (("cadence", ours), ("python-socketio", theirs)):
        target = figures if side == "cadence" else peer
        target.update(
            connections_open=float(m["opened"]),
            kb_per_connection=m["kb_per_connection"],
            server_rss_mb=m["rss_after_mb"],
            open_s=m["open_s"],
            delivered_to=float(m["received"]),
        )
        reports += m["generators"]
        if m["errors"]:
            notes.append(f"{side} connection errors (first few): {m['errors']}")
    checks["cadence_all_connections_open"] = ours["opened"] == n
    checks["cadence_broadcast_reached_every_connection"] = ours["received"] == ours["opened"]
    checks["peer_broadcast_reached_every_connection"] = theirs["received"] == theirs["opened"]
    ratios = {
        "kb_per_connection": figures["kb_per_connection"] / peer["kb_per_connection"]
        if peer["kb_per_connection"] > 0
        else float("nan")
    }
    return Result(
        scenario="connections",
        parameters={"connections": n, "generators": generators, "open_rate": OPEN_RATE},
        figures=figures,
        baseline_name="python-socketio + AsyncRedisManager",
        baseline=peer,
        ratios=ratios,
        goals=[
            Goal("connections_open", ">=", n),
            Goal("ratio:kb_per_connection", "<=", 1.0, "x socketio"),
        ],
        checks=checks,
        generators=reports,
        notes=notes + [f"machine cpus: {os.cpu_count()}"],
    )
