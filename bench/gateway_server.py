"""A gateway-only server process for the realtime benches: `realtime.Gateway` with the real token
verification, on Redis, without Postgres and Ray (which the fan-out path never touches).

The policy opens every calendar channel (the bench's channels have no rows in a database) and
applies the token rules of PROTOCOL.md to org: and patient:. Channel authorization costs one
lookup per subscribe, not per delivery, so the figures hold for the full server.

    python -m bench.gateway_server --port 8765 --prefix bench-x: [--limits '{"frames_per_s": 1e4}']
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from realtime import Gateway, Limits
from server import tokens
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis
from storage.types import Channel, ChannelKind, Principal, Role

BENCH_SECRET = "bench-secret-" + "x" * 40


class BenchAuthenticator:
    async def authenticate_token(self, token: str) -> Principal:
        return tokens.verify(BENCH_SECRET, token)


class BenchPolicy:
    async def may_subscribe(self, principal: Principal | None, channel: Channel) -> bool:
        if channel.kind is ChannelKind.CALENDAR:
            return True
        if principal is None:
            return False
        if channel.kind is ChannelKind.PATIENT and principal.role is Role.PATIENT:
            return principal.patient_id == channel.id
        return principal.org_id == channel.id and principal.role is not Role.PATIENT

    def counters_only(self, principal: Principal, channel: Channel) -> bool:
        return channel.kind is ChannelKind.ORG and principal.role is Role.OWNER

    def non_clinical_only(self, principal: Principal, channel: Channel) -> bool:
        return False


def build_app(redis_url: str, prefix: str, limits: Limits) -> web.Application:
    app = web.Application()
    redis = create_redis(redis_url)
    keys = KeySpace(prefix)
    events = EventLog(redis, keys)
    gateway = Gateway(
        redis=redis,
        redis_url=redis_url,
        events=events,
        keys=keys,
        authenticator=BenchAuthenticator(),
        policy=BenchPolicy(),
        origins=("*",),
        limits=limits,
    )

    async def lifecycle(app: web.Application) -> Any:
        await gateway.start()
        yield
        await gateway.stop()
        await redis.aclose()

    async def shutdown(app: web.Application) -> None:
        await gateway.close_all()

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"connections": gateway.connections})

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(shutdown)
    app.router.add_get("/v1/ws", gateway.handle)
    app.router.add_get("/health", health)
    return app


@contextmanager
def gateway_process(
    port: int, redis_url: str, prefix: str, limits: dict[str, Any] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run the lean gateway in a child process; yields it once /health answers."""
    cmd = [sys.executable, "-m", "bench.gateway_server", "--port", str(port)]
    cmd += ["--prefix", prefix, "--redis", redis_url, "--limits", json.dumps(limits or {})]
    proc = subprocess.Popen(cmd, env={**os.environ}, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()[-2000:] if proc.stderr else "")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def bench_token(org: str | None = None, role: Role = Role.ADMIN) -> str:
    import uuid

    return tokens.issue(
        BENCH_SECRET, role=role, org_id=uuid.UUID(org) if org else uuid.uuid4(), ttl_s=86_400
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--limits", default="{}")
    args = parser.parse_args()
    limits = Limits(**json.loads(args.limits))
    app = build_app(args.redis, args.prefix, limits)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, backlog=4096)


if __name__ == "__main__":
    main()
