"""Issue 15, hole 4: insecure defaults.

The attacks: (1) a server started without CADENCE_ENV and without CADENCE_SECRET signed tokens
with the development secret printed in this repository, so anyone could mint an admin token;
(2) the restricted database role had the published password `cadence_app` everywhere, and
`cadence migrate` reset it to the configured value on every run. Now, outside an explicit
development or test environment, a missing or default secret or role password stops every
command with one line and exit status 2; the local set-up generates its own values; migrate
sets the role's password only when creating the role or when asked.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from migrations.runner import ensure_app_role
from migrations.sql import APP_ROLE
from server import devstack
from server.settings import DEV_APP_PASSWORD, DEV_SECRET
from tests.support.services import app_password

ROOT = Path(__file__).resolve().parents[2]
STRONG_SECRET = "s" * 48
STRONG_PASSWORD = "p" * 48


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CADENCE_")}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True, text=True, env={**base, **env}, timeout=120, cwd=ROOT,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, "CADENCE_SECRET"),
        ({"CADENCE_SECRET": DEV_SECRET, "CADENCE_DB_APP_PASSWORD": STRONG_PASSWORD},
         "CADENCE_SECRET"),
        ({"CADENCE_SECRET": STRONG_SECRET}, "CADENCE_DB_APP_PASSWORD"),
        ({"CADENCE_SECRET": STRONG_SECRET, "CADENCE_DB_APP_PASSWORD": DEV_APP_PASSWORD},
         "CADENCE_DB_APP_PASSWORD"),
        ({"CADENCE_ENV": "production"}, "CADENCE_SECRET"),
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    "command", [["serve", "--port", "1"], ["migrate"], ["token", "--role", "superadmin"]]
)
def test_nothing_secret_is_defaulted_outside_development_and_test(
    env: dict[str, str], missing: str, command: list[str]
) -> None:
    done = _cli(*command, env={"DATABASE_URL": "postgresql://u@127.0.0.1:9/x",
                               "REDIS_URL": "redis://127.0.0.1:9", **env})  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and missing in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


async def _password_hash(dsn: str) -> str | None:
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            pytest.skip("reading a role's password hash needs a superuser DSN")
        found: str | None = await conn.fetchval(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1", APP_ROLE
        )
        return found
    finally:
        await conn.close()


async def test_migrate_keeps_the_password_an_operator_set(database_url: str) -> None:  # noqa: F811
    before = await _password_hash(database_url)
    # Re-running migrations with another configured value changes nothing.
    assert await ensure_app_role(database_url, "not-what-the-operator-chose") is False
    assert await _password_hash(database_url) == before
    # Asked explicitly, it sets it (to this run's own value: the role is shared by test runs).
    assert await ensure_app_role(database_url, app_password(), set_password=True) is True
    after = await _password_hash(database_url)
    assert after is not None and after != before  # a new salt at least
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", APP_ROLE)
    finally:
        await conn.close()


def test_local_setup_generates_strong_private_values_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devstack, "DATA", tmp_path)
    for key in devstack.SECRET_KEYS:
        monkeypatch.delenv(key, raising=False)
    first = devstack._local_secrets()
    again = devstack._local_secrets()
    assert first == again, "kept, not regenerated"
    assert {"CADENCE_SECRET", "CADENCE_DB_APP_PASSWORD"} <= set(first)
    assert all(len(v) >= 40 for v in first.values())
    assert first["CADENCE_SECRET"] not in (DEV_SECRET,) and first["CADENCE_DB_APP_PASSWORD"] != (
        DEV_APP_PASSWORD
    )
    path = tmp_path / "secrets.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Another checkout (another .data/) gets other values.
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setattr(devstack, "DATA", other)
    assert set(devstack._local_secrets().values()).isdisjoint(first.values())
    # An operator's own value wins over the generated one.
    monkeypatch.setenv("CADENCE_SECRET", STRONG_SECRET)
    assert devstack._local_secrets()["CADENCE_SECRET"] == STRONG_SECRET

    devstack._write_private(tmp_path / "services.env", {"A": "1"})
    assert stat.S_IMODE((tmp_path / "services.env").stat().st_mode) == 0o600
