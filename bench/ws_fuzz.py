"""Fuzz the WebSocket: malformed, oversized, binary-junk and out-of-order frames.

Each connection sends one frame at a time and waits for its answer. Every frame must get an
`error` (or, for a frame that happens to be valid, `ok`) reply, or end the connection with a
documented close code (1009 too large, 4001 bad token, 4029 too many frames, 1003 unsupported);
anything else — no answer, another close code, a server crash — is a finding.

    python -m bench.ws_fuzz --frames 100000 --connections 50

Without --url it starts a lean gateway process (bench/gateway_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import websockets

DOCUMENTED_CLOSES = {1003, 1009, 4001, 4029}
TEXT_LIMIT = 64 * 1024


def _junk(rng: random.Random, n: int) -> bytes:
    return rng.randbytes(n)


def _generators(rng: random.Random) -> list[Callable[[], str | bytes]]:
    cal = f"calendar:{uuid.uuid4()}"

    def js(obj: Any) -> str:
        return orjson.dumps(obj).decode()

    return [
        lambda: _junk(rng, rng.randint(0, 64)).decode("latin-1"),  # text junk
        lambda: _junk(rng, rng.randint(0, 2048)),  # binary junk
        lambda: b"\x00\x00\x10\x00" + _junk(rng, 20),  # binary: header length past the end
        lambda: b"\x00\x00\x00\x04null" + _junk(rng, 10),  # binary: header not an object
        lambda: js([1, 2, 3]),
        lambda: js({"op": rng.choice([None, 1, [], {}, True])}),
        lambda: js({"id": rng.randint(0, 9), "op": "x" * rng.randint(1, 300)}),  # unknown op
        lambda: js({"id": "i" * 100, "op": "ping"}),  # over-long id: not echoed
        lambda: js({"id": 1, "op": "subscribe", "channel": rng.choice(["", "org:", "x" * 500])}),
        lambda: js({"id": 2, "op": "subscribe", "channel": cal, "since": {"offset": "x"}}),
        lambda: js({"id": 3, "op": "subscribe", "channel": cal, "since": "0-0"}),
        lambda: js({"id": 4, "op": "unsubscribe", "channel": cal}),  # out of order
        lambda: js({"id": 5, "op": "subscribe", "channel": f"org:{uuid.uuid4()}"}),  # forbidden
        lambda: js({"id": 6, "op": "auth"}),  # token missing
        lambda: js({"id": 7, "op": "presence", "channel": f"org:{uuid.uuid4()}"}),
        lambda: "[" * 2000 + "]" * 2000,  # deep nesting
        lambda: '{"op": "ping", "id": 1, ' + '"k": 1, ' * 50 + "}",  # trailing comma
        lambda: '{"op":"\ud800"}'.encode("utf-8", "surrogatepass").decode("latin-1"),
        lambda: js({"id": 8, "op": "ping"}),  # valid
        lambda: js({"id": 9, "op": "subscribe", "channel": cal}),  # valid (then: already)
        lambda: "x" * (TEXT_LIMIT + rng.randint(1, 1000)),  # oversized: 1009
        lambda: js({"id": 10, "op": "auth", "token": "not.a.jwt"}),  # invalid: 4001
    ]


async def _connection(
    url: str, budget: list[int], rng: random.Random, stats: dict[str, Counter[Any]]
) -> None:
    generators = _generators(rng)
    # The two closing generators are rare, so most frames exercise the error replies.
    weights = [10] * (len(generators) - 2) + [1, 1]
    while budget[0] > 0:
        try:
            async with websockets.connect(url, max_size=2**22, compression=None) as ws:
                stats["connections"]["opened"] += 1
                while budget[0] > 0:
                    budget[0] -= 1
                    frame = rng.choices(generators, weights)[0]()
                    await ws.send(frame)
                    stats["sent"]["binary" if isinstance(frame, bytes) else "text"] += 1
                    try:
                        async with asyncio.timeout(5):
                            while True:
                                reply = orjson.loads(await ws.recv())
                                if reply.get("op") in ("ok", "error"):
                                    break
                    except TimeoutError:
                        stats["findings"]["unanswered"] += 1
                        break
                    stats["replies"][
                        reply["error"]["code"] if reply["op"] == "error" else "ok"
                    ] += 1
        except websockets.ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            key = "closes" if code in DOCUMENTED_CLOSES else "undocumented_closes"
            stats[key][str(code)] += 1
        except (OSError, websockets.InvalidHandshake) as exc:
            stats["findings"][f"connect failed: {type(exc).__name__}"] += 1
            await asyncio.sleep(0.2)


async def fuzz(
    url: str, *, frames: int = 100_000, connections: int = 20, seed: int = 0
) -> dict[str, Any]:
    rng = random.Random(seed)
    stats: dict[str, Counter[Any]] = {
        k: Counter()
        for k in ("sent", "replies", "closes", "undocumented_closes", "findings", "connections")
    }
    budget = [frames]
    await asyncio.gather(
        *(_connection(url, budget, random.Random(rng.random()), stats) for _ in range(connections))
    )
    # The server is still serving: a fresh client gets a pong.
    async with websockets.connect(url) as ws:
        await ws.send('{"id": 1, "op": "ping"}')
        alive = orjson.loads(await asyncio.wait_for(ws.recv(), 5))["op"] == "ok"
    unanswered = stats["findings"]["unanswered"]
    return {
        "frames": sum(stats["sent"].values()),
        "sent": dict(stats["sent"]),
        "replies": dict(stats["replies"]),
        "closes": dict(stats["closes"]),
        "undocumented_closes": dict(stats["undocumented_closes"]),
        "connections": stats["connections"]["opened"],
        "unanswered": unanswered,
        "findings": dict(stats["findings"]),
        "server_alive": alive,
        "ok": alive and not stats["undocumented_closes"] and not stats["findings"],
    }


async def _standalone(args: argparse.Namespace) -> dict[str, Any]:
    from bench.gateway_server import gateway_process
    from bench.server_process import free_port

    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    port = free_port()
    limits = {"frames_per_s": 100_000, "frame_burst": 100_000}
    with gateway_process(port, redis_url, f"bench-fuzz-{secrets.token_hex(3)}:", limits) as proc:
        result = await fuzz(
            f"ws://127.0.0.1:{port}/v1/ws",
            frames=args.frames,
            connections=args.connections,
            seed=args.seed,
        )
        result["server_exit_code"] = proc.poll()  # None: still running
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    result = asyncio.run(_standalone(parser.parse_args()))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    raise SystemExit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
