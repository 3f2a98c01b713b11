"""Find or start PostgreSQL and Redis for the README's commands (stdlib only; runs before the venv).

Order, for each service: the URL from the environment; a server already answering on the default
local port; a private server under `.data/` started from the system's binaries (installed with
apt-get when we are root and they are missing); else one clear message and exit status 2.

Local secrets: CADENCE_SECRET (token signing), CADENCE_DB_APP_PASSWORD (the restricted
database role), CADENCE_DATA_KEYS and CADENCE_BLIND_INDEX_KEY (field encryption) come from the
environment when set, else are generated once, at random, and kept in .data/secrets.env
(mode 0600), so every checkout has its own and none is a published default.

Usage: python3 server/devstack.py ensure    -> writes .data/services.env (KEY=VALUE lines, 0600)
       python3 server/devstack.py stop      -> stops the private servers this script started
"""

from __future__ import annotations

import base64
import glob
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".data"
PRIVATE_PG_PORT = 54329
PRIVATE_REDIS_PORT = 63799
DOCKER_HINT = "`docker compose up -d` (see docker-compose.yml) provides both services."


class Missing(Exception):
    pass


def _answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_for(host: str, port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _answers(host, port):
            return True
        time.sleep(0.2)
    return False


def _is_root() -> bool:
    return os.geteuid() == 0


_apt_updated = False


def _apt_install(*packages: str) -> bool:
    global _apt_updated
    if not _is_root() or shutil.which("apt-get") is None:
        return False
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_updated:
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        _apt_updated = True
    print(f"devstack: installing {' '.join(packages)} with apt-get", file=sys.stderr)
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        env=env,
        check=False,
    )
    return done.returncode == 0


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root; run them as the `postgres` system user."""
    if _is_root():
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _private_postgres() -> str:
    bindir = _pg_bindir()
    if bindir is None and _apt_install("postgresql"):
        bindir = _pg_bindir()
    if bindir is None:
        raise Missing("PostgreSQL is not running on 127.0.0.1:5432 and no server binaries exist")
    pgdata = DATA / "pg"
    sockdir = DATA / "run"
    for d in (pgdata, sockdir):
        d.mkdir(parents=True, exist_ok=True)
    if _is_root():
        shutil.chown(pgdata, "postgres", "postgres")
        shutil.chown(sockdir, "postgres", "postgres")
        probe = subprocess.run(_as_postgres(["test", "-w", str(pgdata)]), check=False)
        if probe.returncode != 0:
            raise Missing(
                f"PostgreSQL's system user cannot reach {pgdata} (a parent folder is private); "
                "set DATABASE_URL or move the checkout"
            )
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            _as_postgres(
                [str(bindir / "initdb"), "-D", str(pgdata), "-U", "postgres", "--auth=trust"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if not _answers("127.0.0.1", PRIVATE_PG_PORT):
        opts = f"-p {PRIVATE_PG_PORT} -k {sockdir} -c listen_addresses=127.0.0.1"
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(pgdata),
                    "-o",
                    opts,
                    "-l",
                    str(pgdata / "server.log"),
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    if not _wait_for("127.0.0.1", PRIVATE_PG_PORT, 20):
        raise Missing(f"private PostgreSQL did not start; see {pgdata / 'server.log'}")
    return f"postgresql://postgres@127.0.0.1:{PRIVATE_PG_PORT}/cadence"


def _private_redis() -> str:
    binary = shutil.which("redis-server")
    if binary is None and _apt_install("redis-server"):
        binary = shutil.which("redis-server")
    if binary is None:
        raise Missing("Redis is not running on 127.0.0.1:6379 and redis-server is not installed")
    rdir = DATA / "redis"
    rdir.mkdir(parents=True, exist_ok=True)
    if not _answers("127.0.0.1", PRIVATE_REDIS_PORT):
        subprocess.run(
            [
                binary,
                "--port",
                str(PRIVATE_REDIS_PORT),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(rdir),
                "--appendonly",
                "yes",
                "--daemonize",
                "yes",
                "--pidfile",
                str(rdir / "redis.pid"),
                "--logfile",
                str(rdir / "redis.log"),
            ],
            check=True,
        )
    if not _wait_for("127.0.0.1", PRIVATE_REDIS_PORT, 10):
        raise Missing(f"private Redis did not start; see {rdir / 'redis.log'}")
    return f"redis://127.0.0.1:{PRIVATE_REDIS_PORT}/0"


def _database_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if _answers("127.0.0.1", 5432):
        return "postgresql://postgres@127.0.0.1:5432/cadence"
    return _private_postgres()


def _redis_url() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if _answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0"
    return _private_redis()


def _system_libraries() -> None:
    # WeasyPrint loads Pango through ctypes at import time; Debian's slim images lack it.
    if glob.glob("/usr/lib/*/libpango-1.0.so.0") or glob.glob("/usr/lib/libpango-1.0.so.0"):
        return
    _apt_install("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz0b", "libfontconfig1")


def _document_tools() -> None:
    # Fonts for the PDFs, and poppler's pdftotext/pdftoppm, which the document tests read PDFs with.
    missing = [] if shutil.which("pdftotext") else ["poppler-utils"]
    if not glob.glob("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        missing.append("fonts-dejavu-core")
    if missing:
        _apt_install(*missing)


def _browser_tools() -> None:
    # The browser tests drive Debian's Chromium through Playwright (never `playwright install`,
    # which downloads a browser build); Node runs tsc and openapi-typescript (`make` runs npm ci).
    missing = [] if shutil.which("chromium") else ["chromium"]
    if shutil.which("node") is None or shutil.which("npm") is None:
        missing += ["nodejs", "npm"]
    if missing:
        _apt_install(*missing)


def frontend() -> int:
    """The tools `npm ci` in server/pages needs (the Makefile calls this before it)."""
    _browser_tools()
    return 0


HAPROXY_DIR = DATA / "haproxy"


def haproxy_binary() -> str | None:
    """The HAProxy the scale-out tests put in front of two servers: one on PATH, else the one
    `_load_balancer` unpacked under .data/haproxy/."""
    unpacked = HAPROXY_DIR / "usr" / "sbin" / "haproxy"
    return shutil.which("haproxy") or (str(unpacked) if unpacked.is_file() else None)


def _load_balancer() -> None:
    # The binary only: the package is unpacked with `dpkg -x` (no maintainer scripts), so no
    # system haproxy service is enabled or started; only its libraries go through apt-get.
    if haproxy_binary() is not None or not _apt_install("liblua5.3-0", "libopentracing-c-wrapper0"):
        return
    HAPROXY_DIR.mkdir(parents=True, exist_ok=True)
    for old in HAPROXY_DIR.glob("haproxy_*.deb"):
        old.unlink()
    got = subprocess.run(
        ["apt-get", "download", "-qq", "-o", "APT::Sandbox::User=root", "haproxy"],
        cwd=HAPROXY_DIR,
        check=False,
    )
    debs = sorted(HAPROXY_DIR.glob("haproxy_*.deb"))
    if got.returncode == 0 and debs:
        subprocess.run(["dpkg", "-x", str(debs[-1]), str(HAPROXY_DIR)], check=False)


SECRET_KEYS = (
    "CADENCE_SECRET",
    "CADENCE_DB_APP_PASSWORD",
    "CADENCE_DATA_KEYS",
    "CADENCE_BLIND_INDEX_KEY",
)


def _new_secret(key: str) -> str:
    """Field encryption keys are 32 random bytes in base64 (the data keys with their id,
    storage/crypto.py); the other secrets are opaque strings."""
    if key == "CADENCE_DATA_KEYS":
        return "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if key == "CADENCE_BLIND_INDEX_KEY":
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(32)


def _write_private(path: Path, lines: dict[str, str]) -> None:
    """KEY=VALUE lines in a file only its owner can read (it holds secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file kept its mode through O_CREAT
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{k}={v}\n" for k, v in lines.items()))


def _local_secrets() -> dict[str, str]:
    """The environment's values, else the ones generated on the first run (token_urlsafe:
    shell-safe characters, 256 bits)."""
    path = DATA / "secrets.env"
    kept: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key in SECRET_KEYS and value:
                kept[key] = value
    for key in SECRET_KEYS:
        kept.setdefault(key, _new_secret(key))
    _write_private(path, kept)
    return {key: os.environ.get(key) or kept[key] for key in SECRET_KEYS}


def ensure() -> int:
    DATA.mkdir(exist_ok=True)
    _system_libraries()
    _document_tools()
    _browser_tools()
    _load_balancer()
    problems: list[str] = []
    urls: dict[str, str] = {}
    for key, find in (("DATABASE_URL", _database_url), ("REDIS_URL", _redis_url)):
        try:
            urls[key] = find()
        except (Missing, subprocess.CalledProcessError) as exc:
            problems.append(str(exc))
    if problems:
        print(f"cadence: cannot start: {'; '.join(problems)}. {DOCKER_HINT}", file=sys.stderr)
        return 2
    tools = {"HAPROXY_BIN": lb} if (lb := haproxy_binary()) else {}
    _write_private(DATA / "services.env", {**urls, **_local_secrets(), **tools})
    return 0


def stop() -> int:
    bindir = _pg_bindir()
    if bindir and (DATA / "pg" / "postmaster.pid").exists():
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(DATA / "pg"), "-m", "fast", "stop"]),
            check=False,
        )
    pidfile = DATA / "redis" / "redis.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), 15)
        except (OSError, ValueError):
            pass
    return 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "ensure"
    sys.exit({"ensure": ensure, "stop": stop, "frontend": frontend}.get(command, ensure)())
