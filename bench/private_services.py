"""A PostgreSQL cluster and a Redis server of one bench run's own (the chaos scenario restarts
them under load): each in a temporary directory, on a free port, started from the system's
binaries as server/devstack.py finds them, and stopped by the run that started it. The machine's
shared servers (5432, 6379) are never touched."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from bench.scaleout import free_port
from bench.schema import Skip
from server.devstack import _as_postgres, _is_root, _pg_bindir, _wait_for


def _wait_until_answering(port: int, seconds: float, what: str) -> None:
    if not _wait_for("127.0.0.1", port, seconds):
        raise RuntimeError(f"{what} did not answer on 127.0.0.1:{port}")


class PrivatePostgres:
    """initdb into `root/pg`, then `pg_ctl` start / restart / stop (as the `postgres` user when
    we are root: initdb and postgres refuse to run as root)."""

    def __init__(self, root: Path) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            raise Skip("no PostgreSQL server binaries (initdb) on this machine")
        self._bin = bindir
        self.data = root / "pg"
        self._sockets = root / "pgrun"
        self.port = free_port()
        self.restarts = 0

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        for d in (self.data, self._sockets):
            d.mkdir(parents=True, exist_ok=True)
            if _is_root():
                shutil.chown(d, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-N")
        # fsync stays on: a restart must keep every committed booking; the rest is for a busy
        # two-core machine (two replicas' pools, the consumers, the checker).
        opts = (
            f"-p {self.port} -k {self._sockets} -c listen_addresses=127.0.0.1 "
            "-c max_connections=300 -c shared_buffers=128MB"
        )
        self._pg_ctl("-o", opts, "-l", str(self.data / "server.log"), "start")
        _wait_until_answering(self.port, 30, "private PostgreSQL")

    def restart(self, mode: str) -> None:
        """`fast` (sessions terminated, clean shutdown) or `immediate` (no shutdown checkpoint:
        WAL recovery on start, as after a crash). pg_ctl reuses the options of the last start."""
        self._pg_ctl("-m", mode, "restart")
        self.restarts += 1
        _wait_until_answering(self.port, 60, "private PostgreSQL")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("-m", "immediate", "stop", check=False)

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", *args, check=check)

    def _run(self, tool: str, *args: str, check: bool = True) -> None:
        done = subprocess.run(
            _as_postgres([str(self._bin / tool), *args]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stderr.decode(errors='replace')[-1000:]}")


class PrivateRedis:
    """redis-server in the foreground (this run owns exactly that process) with its AOF in
    `root/redis`, fsynced on every write: a restart, even after SIGKILL, loses no stream entry
    the server was told was written."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise Skip("redis-server is not installed")
        self._binary = binary
        self.dir = root / "redis"
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [
                self._binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always",
                "--save", "", "--logfile", str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_until_answering(self.port, 20, "private Redis")

    def restart(self, sig: signal.Signals) -> None:
        """Stop with `sig` (SIGTERM: Redis' own shutdown; SIGKILL: nothing flushed beyond the
        AOF), then start again on the same port and directory."""
        self._signal(sig)
        self.start()

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def migrate(dsn: str, env: dict[str, str]) -> None:
    """Migrate the private cluster's database in a child process (Piccolo binds its engine to
    the first database a process migrates)."""
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate", "--set-app-password"],
        env={**os.environ, **env, "DATABASE_URL": dsn},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"migrate failed: {done.stderr.decode(errors='replace')[-2000:]}")
