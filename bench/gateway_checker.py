"""Order and completeness checker of the gateway (ARCHITECTURE.md invariant 4).

Many clients hold a few channels each while events are published; clients drop their sockets at
random and resume with their last position. Every client must either receive every event of its
channels in order without duplicates, or be told `recovered: false` (subscribe reply or `recovery`
frame). A gap, a duplicate, or an out-of-order event without that notice is a silent gap: a bug.

    python -m bench.gateway_checker --clients 1000 --channels 50 --events 200000

Without --url it starts a lean gateway process (bench/gateway_server.py) on a fresh Redis prefix.
`check()` is reused by tests/integration/realtime at a small scale.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import websockets

Publish = Callable[[str, int], Awaitable[Any]]
Top = Callable[[str], Awaitable[int]]


def _seq(offset: str) -> int:
    return int(offset.partition("-")[2])


@dataclass
class Tally:
    events: int = 0
    connections: int = 0
    told_not_recovered: int = 0
    violations: list[str] = field(default_factory=list)


class CheckingClient:
    def __init__(
        self, url: str, channels: list[str], tally: Tally, rng: random.Random, drop_every_s: float
    ) -> None:
        self.url = url
        self.channels = channels
        self.tally = tally
        self.rng = rng
        self.drop_every_s = drop_every_s
        self.last: dict[str, tuple[int, str, str] | None] = dict.fromkeys(channels)
        self.stop = asyncio.Event()
        self.ws: websockets.ClientConnection | None = None

    def abort(self) -> None:
        if self.ws is not None:
            self.ws.transport.abort()

    def _violation(self, text: str) -> None:
        if len(self.tally.violations) < 50:
            self.tally.violations.append(text)
        else:
            self.tally.violations.append("...")

    async def run(self) -> None:
        while not self.stop.is_set():
            try:
                await self._session()
            except (OSError, TimeoutError, websockets.WebSocketException):
                pass
            await asyncio.sleep(self.rng.uniform(0.01, 0.1))

    async def _session(self) -> None:
        async with websockets.connect(
            self.url, max_size=2**22, compression=None, open_timeout=20, close_timeout=1
        ) as ws:
            self.ws = ws
            self.tally.connections += 1
            pending: dict[int, str] = {}
            for i, channel in enumerate(self.channels):
                frame: dict[str, Any] = {"id": i, "op": "subscribe", "channel": channel}
                last = self.last[channel]
                if last is not None:
                    frame["since"] = {"offset": last[2], "epoch": last[1]}
                pending[i] = channel
                await ws.send(orjson.dumps(frame).decode())
            lifetime = self.rng.expovariate(1 / self.drop_every_s) if self.drop_every_s else 1e9
            try:
                async with asyncio.timeout(lifetime):
                    while not self.stop.is_set():
                        self._on(orjson.loads(await ws.recv()), pending)
            except TimeoutError:
                # A random drop: half of them abrupt (no close handshake), like a lost network.
                if self.rng.random() < 0.5:
                    ws.transport.abort()

    def _on(self, frame: dict[str, Any], pending: dict[int, str]) -> None:
        op = frame.get("op")
        if op == "event":
            channel, seq, epoch = frame["channel"], _seq(frame["offset"]), frame["epoch"]
            last = self.last.get(channel)
            if last is not None and (epoch != last[1] or seq != last[0] + 1):
                self._violation(f"{channel}: got {seq}@{epoch} after {last[0]}@{last[1]}")
            self.last[channel] = (seq, epoch, frame["offset"])
            self.tally.events += 1
        elif op == "ok" and frame.get("id") in pending:
            channel = pending.pop(frame["id"])
            result = frame["result"]
            position = result["position"]
            if self.last[channel] is None or not result["recovered"]:
                if self.last[channel] is not None:
                    self.tally.told_not_recovered += 1
                self.last[channel] = (
                    _seq(position["offset"]),
                    position["epoch"],
                    position["offset"],
                )
        elif op == "recovery":
            self.tally.told_not_recovered += 1
            position = frame["position"]
            self.last[frame["channel"]] = (
                _seq(position["offset"]),
                position["epoch"],
                position["offset"],
            )
        elif op == "error":
            self._violation(f"error reply: {frame}")


async def check(
    url: str,
    channels: list[str],
    publish: Publish,
    top: Top,
    *,
    clients: int = 100,
    events: int = 10_000,
    per_client: int = 3,
    drop_every_s: float = 1.0,
    publishers: int = 8,
    settle_s: float = 30.0,
    seed: int = 1,
) -> dict[str, Any]:
    rng = random.Random(seed)
    tally = Tally()
    checkers = [
        CheckingClient(
            url,
            rng.sample(channels, min(per_client, len(channels))),
            tally,
            random.Random(rng.random()),
            drop_every_s,
        )
        for _ in range(clients)
    ]
    tasks = [asyncio.create_task(c.run()) for c in checkers]
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    counter = iter(range(events))

    async def publisher() -> None:
        for i in counter:
            await publish(channels[i % len(channels)], i)

    await asyncio.gather(*(publisher() for _ in range(publishers)))
    published_s = time.perf_counter() - started
    tops = {channel: await top(channel) for channel in channels}
    # Completeness: every client catches up with the final top of each of its channels.
    for c in checkers:
        c.drop_every_s = 0
    deadline = time.monotonic() + settle_s
    incomplete = checkers
    while time.monotonic() < deadline:
        incomplete = [
            c
            for c in checkers
            if any((c.last[ch] or (0, "", ""))[0] < tops[ch] for ch in c.channels)
        ]
        if not incomplete:
            break
        await asyncio.sleep(0.1)
    for c in checkers:
        c.stop.set()
        c.abort()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for c in incomplete:
        tally.violations.append(f"incomplete: {[(ch, c.last[ch], tops[ch]) for ch in c.channels]}")
    return {
        "clients": clients,
        "channels": len(channels),
        "events_published": events,
        "deliveries_checked": tally.events,
        "connections": tally.connections,
        "told_not_recovered": tally.told_not_recovered,
        "silent_gaps": len(tally.violations),
        "violations": tally.violations[:20],
        "publish_s": round(published_s, 2),
        "ok": not tally.violations,
    }


async def _standalone(args: argparse.Namespace) -> dict[str, Any]:
    from bench.gateway_server import gateway_process
    from bench.server_process import free_port
    from storage.events import EventLog
    from storage.keys import KeySpace
    from storage.redis import create_redis
    from storage.types import ChannelName

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = args.prefix or f"bench-check-{secrets.token_hex(3)}:"
    port = free_port()
    redis = create_redis(redis_url)
    log = EventLog(redis, KeySpace(prefix))
    channels = args.channel or [f"calendar:{uuid.uuid4()}" for _ in range(args.channels)]
    limits = {"queue_bytes": 4 * 1024 * 1024}

    async def publish(channel: str, i: int) -> None:
        await log.publish(ChannelName(channel), "slots.changed", {"i": i})

    async def top(channel: str) -> int:
        return _seq((await log.position(ChannelName(channel))).offset)

    async def run(url: str) -> dict[str, Any]:
        return await check(
            url,
            channels,
            publish,
            top,
            clients=args.clients,
            events=args.events,
            per_client=args.per_client,
            drop_every_s=args.drop_every,
            settle_s=args.settle,
            seed=args.seed,
        )

    if args.url:  # a running server whose Redis prefix is --prefix; its keys are its own
        try:
            return await run(args.url)
        finally:
            await redis.aclose()
    try:
        with gateway_process(port, redis_url, prefix, limits):
            return await check(
                f"ws://127.0.0.1:{port}/v1/ws",
                channels,
                publish,
                top,
                clients=args.clients,
                events=args.events,
                per_client=args.per_client,
                drop_every_s=args.drop_every,
                settle_s=args.settle,
                seed=args.seed,
            )
    finally:
        async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
            await redis.delete(key)
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--per-client", type=int, default=3)
    parser.add_argument("--drop-every", type=float, default=2.0, help="mean s between drops")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--settle", type=float, default=30.0, help="s for every client to catch up at the end"
    )
    parser.add_argument("--url", help="check a running gateway instead of starting one")
    parser.add_argument("--prefix", help="the Redis prefix of --url's server (for publishing)")
    parser.add_argument("--channel", action="append", help="channel to use (repeatable)")
    result = asyncio.run(_standalone(parser.parse_args()))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    raise SystemExit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
