"""Bench scenario `fanout`: one channel, many subscribers, events published through Redis.

For each system (Cadence's gateway, python-socketio's AsyncServer with AsyncRedisManager) and
each subscriber count: deliveries per second (burst publish), publish-to-receive latency p50/p99/
p999 (paced publish), server CPU, and memory per idle connection. Both servers run as their own
process on the same machine; load generators are separate processes (multiprocessing) speaking
raw WebSocket with aiohttp's client (Engine.IO v4 framing for socketio) so client cost is the
same for both, and report their own CPU. Publishing goes through Redis in both cases (EventLog /
AsyncRedisManager.emit).

    python -m bench.fanout --subscribers 1000 10000 --events 200 --idle 10000
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import secrets
import sys
import time
import uuid
from typing import Any

import aiohttp
import orjson
import psutil

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SAMPLES_PER_PROCESS = 50_000
# aiohttp's client: its C frame reader costs a subscriber about half of what `websockets`
# did, so the load generators, not the servers, saturate later on 2 cores.
HANDSHAKE = aiohttp.ClientWSTimeout(ws_close=10)


# -- servers --------------------------------------------------------------------------------


def _socketio_server(port: int, channel: str) -> None:
    import socketio
    from aiohttp import web

    mgr = socketio.AsyncRedisManager(REDIS_URL, channel=channel)
    sio = socketio.AsyncServer(async_mode="aiohttp", client_manager=mgr, cors_allowed_origins="*")
    app = web.Application()
    sio.attach(app)

    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        return "ok"

    sio.on("join", join)  # the call form: socketio's decorator is untyped

    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, backlog=4096)


# -- load generators ------------------------------------------------------------------------


async def _cadence_conn(
    http: aiohttp.ClientSession,
    url: str,
    channel: str,
    on_msg: Any,
    ready: asyncio.Event,
    gate: asyncio.Semaphore,
) -> Any:
    async with gate:  # a bounded number of handshakes in flight, like a real ramp-up
        ws = await http.ws_connect(url, autoping=True, timeout=HANDSHAKE)
        await ws.send_str(orjson.dumps({"id": 1, "op": "subscribe", "channel": channel}).decode())
        await ws.receive()
    ready.set()
    async for msg in ws:
        if msg.type is aiohttp.WSMsgType.TEXT:
            on_msg(orjson.loads(msg.data)["data"]["t"])


async def _socketio_conn(
    http: aiohttp.ClientSession,
    url: str,
    channel: str,
    on_msg: Any,
    ready: asyncio.Event,
    gate: asyncio.Semaphore,
) -> Any:
    async with gate:
        ws = await http.ws_connect(
            url + "/socket.io/?EIO=4&transport=websocket", autoping=True, timeout=HANDSHAKE
        )
        await ws.receive()  # 0{...} open
        await ws.send_str("40")
        await ws.receive()  # 40{"sid"}
        await ws.send_str('421["join","' + channel + '"]')
        while not (raw := await ws.receive_str()).startswith("431"):
            if raw == "2":
                await ws.send_str("3")
    ready.set()
    async for msg in ws:
        if msg.type is not aiohttp.WSMsgType.TEXT:
            continue
        frame = msg.data
        if frame == "2":
            await ws.send_str("3")
        elif frame.startswith("42"):
            on_msg(orjson.loads(frame[2:])[1]["t"])


def _loadgen(system: str, url: str, channel: str, n: int, expect: int, out: Any, go: Any) -> None:
    async def main() -> dict[str, Any]:
        latencies: list[float] = []
        received = [0]
        last = [0.0]
        keep = SAMPLES_PER_PROCESS / max(1, n * expect)

        def on_msg(t_ns: int) -> None:
            now = time.time_ns()
            received[0] += 1
            last[0] = now / 1e9
            if keep >= 1 or random.random() < keep:
                latencies.append((now - t_ns) / 1e6)

        conn = _cadence_conn if system == "cadence" else _socketio_conn
        readies = [asyncio.Event() for _ in range(n)]
        gate = asyncio.Semaphore(64)
        http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        tasks = [asyncio.create_task(conn(http, url, channel, on_msg, r, gate)) for r in readies]
        async with asyncio.timeout(600):
            for ready in readies:
                await ready.wait()
        cpu0 = psutil.Process().cpu_times()
        out.put(("ready", n))
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        deadline = time.monotonic() + 120
        while received[0] < n * expect and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        cpu1 = psutil.Process().cpu_times()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await http.close()
        return {
            "received": received[0],
            "last": last[0],
            "latencies": latencies,
            "cpu_s": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
            "rss_mb": psutil.Process().memory_info().rss / 2**20,
        }

    out.put(("done", asyncio.run(main())))


# -- one measurement ------------------------------------------------------------------------


class _Publisher:
    def __init__(self, system: str, prefix: str, channel: str) -> None:
        self.system, self.prefix, self.channel = system, prefix, channel

    async def __aenter__(self) -> _Publisher:
        if self.system == "cadence":
            from storage.events import EventLog
            from storage.keys import KeySpace
            from storage.redis import create_redis
            from storage.types import ChannelName

            self._redis = create_redis(REDIS_URL)
            log = EventLog(self._redis, KeySpace(self.prefix))
            name = ChannelName(self.channel)

            async def send(data: dict[str, Any]) -> None:
                await log.publish(name, "slots.changed", data)
        else:
            import socketio

            mgr = socketio.AsyncRedisManager(REDIS_URL, channel=self.prefix, write_only=True)

            async def send(data: dict[str, Any]) -> None:
                await mgr.emit("slots.changed", data, room=self.channel, namespace="/")

        self.send = send
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.system == "cadence":
            await self._redis.aclose()


async def _measure(
    system: str, url: str, server_pid: int, prefix: str, n: int, p: dict[str, Any]
) -> dict[str, Any]:
    """`prefix`: the server's Redis key prefix (cadence) or pub/sub channel (socketio). At the
    largest subscriber count, `sweep` (paced rates, ascending) finds the highest rate whose
    p99 stays within `sweep_p99_ms`: it stops at the first rate that misses."""
    channel = f"calendar:{uuid.uuid4()}"
    results: dict[str, Any] = {
        "burst": await _run(system, url, server_pid, prefix, channel, n, p, p["events"], 0.0),
        "paced": await _run(
            system, url, server_pid, prefix, channel, n, p, p["paced_events"], p["rate"]
        ),
    }
    if n == max(p["subscribers"]) and p.get("sweep"):
        sweep: dict[str, Any] = {}
        for rate in sorted(p["sweep"]):
            events = max(20, round(rate * p["sweep_s"]))
            m = await _run(system, url, server_pid, prefix, channel, n, p, events, rate)
            sweep[f"{rate:g}"] = m
            if m["deliveries"] != m["expected"] or (m["p99_ms"] or 0) > p["sweep_p99_ms"]:
                break
        results["sweep"] = sweep
    return results


async def _run(
    system: str,
    url: str,
    server_pid: int,
    prefix: str,
    channel: str,
    n: int,
    p: dict[str, Any],
    events: int,
    rate: float,
) -> dict[str, Any]:
    """`events` published to `n` fresh subscribers, at `rate` per second (0: a burst)."""
    gens = max(1, min(p["loadgens"], n))
    ctx = mp.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(
            target=_loadgen,
            args=(system, url, channel, n // gens, events, out, go),
            daemon=True,
        )
        for _ in range(gens)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        await asyncio.to_thread(out.get, True, 700)
    server = psutil.Process(server_pid)
    cpu0 = server.cpu_times()
    async with _Publisher(system, prefix, channel) as pub:
        go.set()
        await asyncio.sleep(0.2)
        started = time.time()
        for i in range(events):
            await pub.send({"i": i, "t": time.time_ns(), "calendar_id": channel})
            if rate:
                # On schedule, not after a fixed sleep: the publish's own time would lower
                # the offered rate below `rate` at high rates.
                await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.time()))
        publish_s = time.time() - started
        reports = [(await asyncio.to_thread(out.get, True, 700))[1] for _ in procs]
    cpu1 = server.cpu_times()
    for proc in procs:
        proc.join(10)
    received = sum(r["received"] for r in reports)
    server_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    span = max(r["last"] for r in reports) - started
    lat = sorted(x for r in reports for x in r["latencies"])
    return {
        "events": events,
        "rate": rate,
        "deliveries": received,
        "expected": events * (n // gens) * gens,
        "deliveries_per_s": round(received / span) if span > 0 else 0,
        "publish_s": round(publish_s, 2),
        "p50_ms": _pct(lat, 50),
        "p99_ms": _pct(lat, 99),
        "p999_ms": _pct(lat, 99.9),
        "server_cpu_s": round(server_cpu, 2),
        # Robust to other load on the machine: deliveries per second of server CPU.
        "deliveries_per_server_cpu_s": round(received / server_cpu) if server_cpu else 0,
        "loadgen_cpu_s": round(sum(r["cpu_s"] for r in reports), 2),
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(len(values) * q / 100))], 2)


async def _idle_memory(
    system: str, url: str, server_pid: int, n: int, loadgens: int
) -> dict[str, Any]:
    server = psutil.Process(server_pid)
    await asyncio.sleep(0.5)
    before = server.memory_info().rss
    ctx = mp.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    gens = max(1, min(loadgens, n))
    channel = f"calendar:{uuid.uuid4()}"
    procs = [
        ctx.Process(
            target=_loadgen, args=(system, url, channel, n // gens, 0, out, go), daemon=True
        )
        for _ in range(gens)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        await asyncio.to_thread(out.get, True, 700)
    await asyncio.sleep(2)
    after = server.memory_info().rss
    go.set()
    for _ in procs:
        await asyncio.to_thread(out.get, True, 700)
    for proc in procs:
        proc.join(10)
    return {
        "connections": n,
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "kb_per_connection": round((after - before) / n / 1024, 1),
    }


def _start(system: str, port: int, params: dict[str, Any]) -> Any:
    """A context manager yielding (url, pid) of a fresh server process."""
    from contextlib import contextmanager

    @contextmanager
    def cadence() -> Any:
        from bench.gateway_server import gateway_process

        prefix = f"bench-fanout-{secrets.token_hex(3)}:"
        limits = {"queue_bytes": 4 * 1024 * 1024, "frames_per_s": 1000.0}
        with gateway_process(port, REDIS_URL, prefix, limits) as proc:
            yield f"ws://127.0.0.1:{port}/v1/ws", proc.pid, prefix

    @contextmanager
    def sio() -> Any:
        ctx = mp.get_context("spawn")
        channel = f"bench-sio-{secrets.token_hex(3)}"
        proc = ctx.Process(target=_socketio_server, args=(port, channel), daemon=True)
        proc.start()
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
                )
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            yield f"ws://127.0.0.1:{port}", proc.pid, channel
        finally:
            proc.terminate()
            proc.join(10)

    return cadence() if system == "cadence" else sio()


async def run(params: dict[str, Any]) -> dict[str, Any]:
    """params: subscribers (list), events (burst events per run), paced_events, rate (paced
    events/s), idle (connections for the memory figure), loadgens, systems."""
    from bench.server_process import free_port

    p = {
        "subscribers": [1000, 10_000],
        "events": 100,
        "paced_events": 100,
        "rate": 20.0,
        "sweep": [],
        "sweep_s": 5.0,
        "sweep_p99_ms": 100.0,
        "idle": 10_000,
        "loadgens": 2,
        "systems": ["cadence", "socketio"],
        **params,
    }
    figures: dict[str, Any] = {"params": p}
    for system in p["systems"]:
        figures[system] = {}
        for n in p["subscribers"]:
            with _start(system, free_port(), p) as (url, pid, prefix):
                figures[system][str(n)] = await _measure(system, url, pid, prefix, n, p)
            print(f"{system} {n}: {figures[system][str(n)]}", file=sys.stderr, flush=True)
        if p["idle"]:
            with _start(system, free_port(), p) as (url, pid, _):
                figures[system]["idle"] = await _idle_memory(
                    system, url, pid, p["idle"], p["loadgens"]
                )
            print(f"{system} idle: {figures[system]['idle']}", file=sys.stderr, flush=True)
    if {"cadence", "socketio"} <= set(figures):
        ratios = {}
        for n in p["subscribers"]:
            ours, theirs = figures["cadence"][str(n)]["burst"], figures["socketio"][str(n)]["burst"]
            ratios[str(n)] = round(ours["deliveries_per_s"] / max(1, theirs["deliveries_per_s"]), 2)
        figures["throughput_ratio_vs_socketio"] = ratios
    figures["cpus"] = os.cpu_count()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 10_000])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--paced-events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--loadgens", type=int, default=2)
    parser.add_argument("--systems", nargs="+", default=["cadence", "socketio"])
    args = parser.parse_args()
    params = {k: v for k, v in vars(args).items()}
    print(orjson.dumps(asyncio.run(run(params)), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
