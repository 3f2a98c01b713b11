"""Start `cadence serve` as a separate process for a scenario, and stop it cleanly; scratch
databases for scenarios that need their own rows."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass

import asyncpg

from storage.db import with_database
from storage.types import Role

# The secret of every server the bench starts itself: it signs the bench clients' tokens.
BENCH_SECRET = "bench-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_dsn() -> str:
    return os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def token(
    org_id: uuid.UUID,
    role: Role = Role.ADMIN,
    patient_id: uuid.UUID | None = None,
    ttl_s: int = 3600,
) -> str:
    from server import tokens

    return tokens.issue(
        BENCH_SECRET, role=role, org_id=org_id, user_id=uuid.uuid4(), patient_id=patient_id,
        ttl_s=ttl_s,
    )  # fmt: skip


def server_env(dsn: str) -> dict[str, str]:
    """The environment of a bench server on the scratch database `dsn`."""
    return {
        "DATABASE_URL": dsn,
        "CADENCE_SECRET": BENCH_SECRET,
        "CADENCE_ENV": "test",
        "CADENCE_REDIS_PREFIX": f"bench-{secrets.token_hex(3)}:",
        # The event consumers (webhooks, notifications, the dashboard) run in the server, as in
        # a single-process deployment, so every scenario is measured with them at work.
        "CADENCE_CONSUMERS": "on",
    }


@asynccontextmanager
async def scratch_database() -> AsyncIterator[str]:
    """A fresh, migrated database (its DSN), dropped afterwards. Migrations run in a child
    process: Piccolo binds its engine to the first database a process migrates."""
    name = f"cadence_bench_{secrets.token_hex(4)}"
    dsn = with_database(base_dsn(), name)
    admin = await asyncpg.connect(with_database(base_dsn(), "postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server.cli", "migrate",
            env={**os.environ, **server_env(dsn)},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(), 300)
        if proc.returncode != 0:
            raise RuntimeError(f"migrate failed: {err.decode(errors='replace')[-2000:]}")
        yield dsn
    finally:
        admin = await asyncpg.connect(with_database(base_dsn(), "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:PORT
    pid: int
    dsn: str
    redis_prefix: str  # the server's key space: the bench publishes into its channels with it

    @property
    def ws(self) -> str:
        return "ws" + self.base.removeprefix("http") + "/v1/ws"


@asynccontextmanager
async def bench_server(dsn: str) -> AsyncIterator[Server]:
    """`cadence serve` on the scratch database `dsn`."""
    env = server_env(dsn)
    server = _serve(env, None, 90)
    base, proc = await asyncio.to_thread(server.__enter__)
    try:
        yield Server(base, proc.pid, dsn, env["CADENCE_REDIS_PREFIX"])
    finally:
        await asyncio.to_thread(server.__exit__, None, None, None)


class _Shared:
    """The run's one scratch database + server when the runner shares them (quick runs and the
    smoke test: a server start costs ~10 s, more than a quick scenario)."""

    enabled = False
    stack: AsyncExitStack | None = None
    server: Server | None = None


@asynccontextmanager
async def live_stack() -> AsyncIterator[Server]:
    """A server on a scratch database: the run's shared one when sharing, else a fresh one.
    Scenarios create their own organization, so they do not see each other's rows."""
    if _Shared.enabled:
        if _Shared.server is None:
            _Shared.stack = AsyncExitStack()
            dsn = await _Shared.stack.enter_async_context(scratch_database())
            _Shared.server = await _Shared.stack.enter_async_context(bench_server(dsn))
        yield _Shared.server
        return
    async with scratch_database() as dsn, bench_server(dsn) as server:
        yield server


@asynccontextmanager
async def stoppable_stack() -> AsyncIterator[tuple[Server, Callable[[], Awaitable[None]]]]:
    """`live_stack`, with a way to stop the server early while its database stays: a peer that
    runs on the same tables next then has the machine to itself (no outbox sends or consumers
    reacting to its rows). Sharing servers, the shared one keeps running."""
    if _Shared.enabled:
        async with live_stack() as server:

            async def keep() -> None:
                return None

            yield server, keep
        return
    async with scratch_database() as dsn, AsyncExitStack() as stack:
        server = await stack.enter_async_context(bench_server(dsn))
        yield server, stack.aclose


def share_servers() -> None:
    _Shared.enabled = True


def sharing() -> bool:
    return _Shared.enabled


async def close_shared() -> None:
    stack, _Shared.stack, _Shared.server, _Shared.enabled = _Shared.stack, None, None, False
    if stack is not None:
        await stack.aclose()


@contextmanager
def cadence_server(
    env: Mapping[str, str] | None = None, port: int | None = None, ready_timeout: float = 90
) -> Iterator[str]:
    """Yields the base URL once /health/ready answers 200."""
    with _serve(env, port, ready_timeout) as (base, _):
        yield base


@contextmanager
def _serve(
    env: Mapping[str, str] | None, port: int | None, ready_timeout: float
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = port or free_port()
    proc_env = {**os.environ, **(env or {}), "CADENCE_LOG_LEVEL": "WARNING"}
    # stderr goes to a file, not a pipe: nobody reads a pipe during the run, and a server that
    # logs enough to fill one would block in write() and measure the pipe.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=proc_env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                err = log.read().decode(errors="replace")
                raise RuntimeError(f"server exited early: {err[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.3)
        yield base, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()
