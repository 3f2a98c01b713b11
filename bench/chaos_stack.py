"""Everything the chaos scenario may break, all of it its own: a PostgreSQL cluster and a Redis
server (bench/private_services.py), a Ray head, two `cadence serve` replicas and HAProxy in
front of them (bench/scaleout.py), under one temporary directory; and the faults themselves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import psutil

from bench.private_services import PrivatePostgres, PrivateRedis, migrate
from bench.scaleout import Balancer, Replica, ray_head, replica_env
from bench.schema import Skip
from bench.server_process import BENCH_SECRET, Server
from server.devstack import haproxy_binary


class Fault(StrEnum):
    CALENDAR_ACTOR = "kill -9 calendar shard actor"
    INGEST_ACTOR = "kill -9 telemetry ingest actor"
    REDIS = "restart redis"
    POSTGRES = "restart postgres"
    REPLICA = "kill -9 one cadence serve"


# Ray's process title of each actor family's workers (`ray::ClassName[.method]`).
ACTOR_TITLES = {
    Fault.CALENDAR_ACTOR: "ray::CalendarShard",
    Fault.INGEST_ACTOR: "ray::TelemetryIngest",
}


class FaultFailed(Exception):
    """A fault could not be injected (no such process to kill, a restart that failed)."""


@dataclass
class ChaosStack:
    root: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    replicas: list[Replica]
    balancer: Balancer
    server: Server
    _turns: dict[Fault, int] = field(default_factory=dict)

    async def inject(self, fault: Fault) -> str:
        """Inject `fault`; returns what exactly was done. The variant alternates per kind, the
        harsher one first (a quick run injects each kind once)."""
        turn = self._turns[fault] = self._turns.get(fault, 0) + 1
        if fault in ACTOR_TITLES:
            pid = _actor_pid(ACTOR_TITLES[fault])
            os.kill(pid, signal.SIGKILL)
            return f"SIGKILL pid {pid}"
        if fault is Fault.REDIS:
            sig = signal.SIGKILL if turn % 2 else signal.SIGTERM
            await asyncio.to_thread(self.redis.restart, sig)
            return f"{sig.name}, started again on the same port and AOF"
        if fault is Fault.POSTGRES:
            mode = "immediate" if turn % 2 else "fast"
            await asyncio.to_thread(self.postgres.restart, mode)
            return f"pg_ctl restart -m {mode}"
        victim = self.replicas[(turn - 1) % 2]
        victim.kill()
        victim.restart()
        return f"SIGKILL replica {victim.name}, started again on its port"

    async def replicas_ready(self, timeout_s: float = 120) -> None:
        await asyncio.gather(*(r.ready(timeout_s) for r in self.replicas))


def _actor_pid(title: str) -> int:
    """A live worker of this run's Ray head (our descendant: never another run's actor) whose
    process title names the actor class."""
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error, IndexError):
            if proc.cmdline()[0].startswith(title):
                return int(proc.pid)
    raise FaultFailed(f"no {title} process among this run's Ray workers")


@contextlib.contextmanager
def _scratch_root() -> Iterator[Path]:
    # Short and under /tmp: Ray's Unix sockets have a 107-byte path limit. Readable by the
    # `postgres` user, which runs the private cluster when we are root.
    root = Path(tempfile.mkdtemp(prefix="cch", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.asynccontextmanager
async def chaos_stack() -> AsyncIterator[ChaosStack]:
    binary = os.environ.get("HAPROXY_BIN") or haproxy_binary()
    if not binary:
        raise Skip("haproxy is not installed: `make services` as root installs it (devstack)")
    with _scratch_root() as root, contextlib.ExitStack() as stops:
        postgres = PrivatePostgres(root)
        await asyncio.to_thread(postgres.start)
        stops.callback(postgres.stop)
        redis = PrivateRedis(root)
        await asyncio.to_thread(redis.start)
        stops.callback(redis.stop)
        dsn = postgres.dsn("cadence")
        ray_address = stops.enter_context(ray_head(root / "ray"))
        # One shard owns every calendar: its kill -9 always takes bookable calendars down.
        env = replica_env(
            dsn=dsn,
            redis_url=redis.url,
            prefix=f"chaos-{secrets.token_hex(3)}:",
            secret=BENCH_SECRET,
            files=root,
            ray_tmp=root / "ray",
            ray_address=ray_address,
        )
        await asyncio.to_thread(migrate, dsn, env)
        replicas = []
        for name in ("a", "b"):
            replica = Replica(name, env, root / f"{name}.log")
            stops.callback(replica.stop)
            replicas.append(replica)
        await asyncio.gather(*(r.ready(120) for r in replicas))
        balancer = Balancer(binary, [r.address for r in replicas], "leastconn", root / "lb.log")
        stops.callback(balancer.stop)
        await balancer.ready()
        server = Server(balancer.http, 0, dsn, env["CADENCE_REDIS_PREFIX"])
        yield ChaosStack(root, postgres, redis, replicas, balancer, server)
