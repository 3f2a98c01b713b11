"""Real processes for scale-out runs (tests/scaleout/ and the chaos bench): a Ray head of the
run's own, `cadence serve` replicas and HAProxy in front of them, each started on free ports and
stopped by the run that started it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
HAPROXY_CFG = ROOT / "tests" / "support" / "haproxy.cfg"
CADENCE = str(Path(sys.executable).with_name("cadence"))


def replica_env(
    *, dsn: str, redis_url: str, prefix: str, secret: str, files: Path, ray_tmp: Path,
    ray_address: str | None,
) -> dict[str, str]:  # fmt: skip
    """The environment of a `cadence serve` replica of a one-machine run: one actor per pool
    (a killed actor or replica is then always the one that serves), its blobs and mail under
    `files`; `ray_address` None: the replica starts a Ray of its own."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update({
        "DATABASE_URL": dsn, "REDIS_URL": redis_url, "RAY_TMPDIR": str(ray_tmp),
        "CADENCE_ENV": "test", "CADENCE_REDIS_PREFIX": prefix, "CADENCE_SECRET": secret,
        "CADENCE_CALENDAR_SHARDS": "1", "CADENCE_INGEST_ACTORS": "1", "CADENCE_POSE_WORKERS": "1",
        "CADENCE_BLOB_DIR": str(files / "blobs"), "CADENCE_MAIL_DIR": str(files / "mail"),
        "CADENCE_LOG_LEVEL": "WARNING",
    })  # fmt: skip
    if ray_address is not None:
        env["RAY_ADDRESS"] = ray_address
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def ray_head(tmp: Path, cpus: int = 2) -> Iterator[str]:
    """A one-node Ray cluster in a child process (bench/ray_cluster.py): its address."""
    env = {**os.environ, "RAY_TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.ray_cluster", str(cpus)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        assert line[:1] == ["address"], f"the Ray head did not start: {line}"
        yield line[1]
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the helper shuts its cluster down on EOF
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Replica:
    """One `cadence serve` process on its own port."""

    def __init__(self, name: str, env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        self._env = dict(env)
        self._log = log.open("wb")
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [CADENCE, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT,
            env=self._env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def restart(self) -> None:
        """A new process on the same port (the load balancer knows the replica by address),
        after the old one exited; its output goes on in the same log."""
        if self.proc.poll() is None:
            raise RuntimeError(f"{self.name} is still running")
        self.proc = self._spawn()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def ready(self, timeout_s: float = 90.0) -> None:
        """Until GET /health/ready answers 200 (Postgres, Redis and Ray reachable); the bound
        is generous, for a busy machine."""
        url = f"http://{self.address}/health/ready"
        async with aiohttp.ClientSession() as http, asyncio.timeout(timeout_s):
            while True:
                assert self.proc.poll() is None, f"{self.name} exited: {self.proc.returncode}"
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(url) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no graceful close of its sockets, no shutdown hooks."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        _stop(self.proc)
        self._log.close()


class Balancer:
    """HAProxy (Debian's package) on tests/support/haproxy.cfg in front of `servers`."""

    def __init__(self, binary: str, servers: list[str], balance: str, log: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "LB_BIND": f"127.0.0.1:{self.port}",
            "LB_BALANCE": balance,
            "LB_SERVER_1": servers[0],
            "LB_SERVER_2": servers[1],
        }
        self._log = log.open("wb")
        # -db: stay in the foreground, so the test owns (and stops) exactly this process.
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", str(HAPROXY_CFG)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    async def ready(self, timeout_s: float = 30.0) -> None:
        async with aiohttp.ClientSession() as http, asyncio.timeout(timeout_s):
            while True:
                assert self.proc.poll() is None, f"haproxy exited: {self.proc.returncode}"
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.http + "/health/ready") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        _stop(self.proc, 5.0)
        self._log.close()
