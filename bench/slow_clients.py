"""Stalled clients: N subscribers stop reading while events keep coming. Each must be closed with
4008 and the server's memory must stay bounded (about `queue_bytes` + socket buffers per client,
not the size of everything published).

    python -m bench.slow_clients --clients 100 --events 2000 --size 10000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import uuid
from typing import Any

import orjson
import psutil
import websockets

from bench.gateway_server import gateway_process
from bench.server_process import free_port
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis
from storage.types import ChannelName


async def run(params: dict[str, Any]) -> dict[str, Any]:
    clients, events, size = params["clients"], params["events"], params["size"]
    queue_bytes = params.get("queue_bytes", 1024 * 1024)
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix, port = f"bench-slow-{secrets.token_hex(3)}:", free_port()
    channel = ChannelName(f"calendar:{uuid.uuid4()}")
    redis = create_redis(redis_url)
    log = EventLog(redis, KeySpace(prefix))
    limits = {"queue_bytes": queue_bytes, "close_timeout_s": 30.0}
    try:
        with gateway_process(port, redis_url, prefix, limits) as proc:
            server = psutil.Process(proc.pid)
            url = f"ws://127.0.0.1:{port}/v1/ws"
            socks = []
            for _ in range(clients):
                ws = await websockets.connect(url, max_queue=1, compression=None, max_size=2**22)
                await ws.send(
                    orjson.dumps({"id": 1, "op": "subscribe", "channel": channel}).decode()
                )
                await ws.recv()
                socks.append(ws)
            rss_before = server.memory_info().rss
            peak = rss_before
            blob = "x" * size
            for i in range(events):
                await log.publish(channel, "slots.changed", {"i": i, "blob": blob})
                if i % 100 == 0:
                    peak = max(peak, server.memory_info().rss)
            await asyncio.sleep(1)
            peak = max(peak, server.memory_info().rss)

            async def close_code(ws: websockets.ClientConnection) -> int | None:
                try:
                    async with asyncio.timeout(30):
                        async for _ in ws:
                            pass
                except websockets.ConnectionClosed:
                    pass
                except TimeoutError:
                    return None
                return ws.close_code

            codes = await asyncio.gather(*(close_code(ws) for ws in socks))
            rss_after = server.memory_info().rss
    finally:
        async for key in redis.scan_iter(match=f"{prefix}*", count=1000):
            await redis.delete(key)
        await redis.aclose()
    published_mb = events * size / 2**20
    return {
        "clients": clients,
        "published_mb_per_client": round(published_mb, 1),
        "closed_4008": sum(1 for c in codes if c == 4008),
        "other_closes": sorted({str(c) for c in codes if c != 4008}),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_peak_mb": round(peak / 2**20, 1),
        "rss_after_mb": round(rss_after / 2**20, 1),
        "peak_growth_per_client_kb": round((peak - rss_before) / clients / 1024, 1),
        "ok": all(c == 4008 for c in codes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--size", type=int, default=10_000)
    result = asyncio.run(run(vars(parser.parse_args())))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
