"""Issue 15, hole 2: the demo seed's logins.

The attack: read a demo e-mail (printed, shared, in a screenshot), derive its password from it
(`<label>-<suffix>-demo`), sign in, ideally as the demo's platform superadmin. Now every password
is random, shown once, kept only as an argon2 hash; there is no superadmin; a later
`cadence seed demo --once` never shows a password again; production refuses to seed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from server.resources import DB_KEY
from server.seed import seed_demo
from tests.support.services import app_password, fresh_database

Client = TestClient[web.Request, web.Application]
ROOT = Path(__file__).resolve().parents[2]


async def _login(http: Client, email: str, password: str) -> int:
    response = await http.post("/v1/auth/login", json={"email": email, "password": password})
    return response.status


async def test_demo_passwords_are_random_and_follow_from_nothing(
    client: Client,  # noqa: F811
) -> None:
    db = client.app[DB_KEY]
    first, second = await seed_demo(db), await seed_demo(db)
    passwords = [u["password"] for demo in (first, second) for u in demo["users"]]
    assert len(set(passwords)) == len(passwords), "every login of every run differs"
    assert all(len(p) >= 20 for p in passwords)
    for user in first["users"]:
        local, _, _ = user["email"].partition("@")
        label, _, suffix = local.partition(".")
        assert label not in user["password"] and suffix not in user["password"]
    # The old rule, and the old platform superadmin of the same demo, no longer sign in (one
    # try each: failed logins are throttled per address).
    admin = next(u for u in first["users"] if u["role"] == "admin")
    suffix = admin["email"].partition("@")[0].partition(".")[2]
    assert await _login(client, admin["email"], f"admin-{suffix}-demo") in (401, 429)
    superadmin = f"superadmin.{suffix}@demo.cadence.test"
    assert await _login(client, superadmin, f"superadmin-{suffix}-demo") in (401, 429)
    assert await _login(client, admin["email"], admin["password"]) == 200

    async with db.platform() as conn:
        demo_users = await conn.fetch(
            "SELECT email, password_hash, is_superadmin FROM users "
            "WHERE lower(email) LIKE '%@demo.cadence.test'"
        )
        stored = await conn.fetch("SELECT result::text AS text FROM demo_seed")
    assert demo_users and not any(u["is_superadmin"] for u in demo_users)
    assert all(u["password_hash"].startswith("$argon2id$") for u in demo_users)
    kept = "".join(r["text"] for r in stored)
    assert not any(p in kept for p in passwords), "the demo record keeps no password"
    assert not any(p in u["password_hash"] for p in passwords for u in demo_users)


def _repository_bytes() -> bytes:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return b"\n".join(
        (ROOT / name).read_bytes()
        for name in listed
        if (ROOT / name).is_file() and (ROOT / name).stat().st_size < 2_000_000
    )


async def test_no_demo_password_is_in_any_file_of_the_repository(
    client: Client,  # noqa: F811
) -> None:
    demo = await seed_demo(client.app[DB_KEY])
    corpus = await asyncio.to_thread(_repository_bytes)
    assert corpus
    assert not any(u["password"].encode() in corpus for u in demo["users"])


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True, text=True, env=env, timeout=180, cwd=ROOT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def scratch_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A database of its own: `--once` must find no demo there yet (and a blob directory of
    its own for the demo's rendered report, not the checkout's)."""
    with fresh_database() as dsn:
        yield {
            **os.environ,
            "DATABASE_URL": dsn,
            "CADENCE_ENV": "development",
            "CADENCE_DB_APP_PASSWORD": app_password(),
            "CADENCE_BLOB_DIR": str(tmp_path_factory.mktemp("blobs")),
        }


def _stored_hash(dsn: str, email: str) -> str:
    async def run() -> str:
        conn = await asyncpg.connect(dsn)
        try:
            found: str = await conn.fetchval(
                "SELECT password_hash FROM users WHERE lower(email) = lower($1)", email
            )
            return found
        finally:
            await conn.close()

    return asyncio.run(run())


def test_seed_demo_once_prints_the_passwords_once_and_never_again(
    scratch_env: dict[str, str],
) -> None:
    first = _cli("seed", "demo", "--once", env=scratch_env)
    assert first.returncode == 0, first.stderr
    demo = orjson.loads(first.stdout)
    users = demo["users"]
    assert {u["role"] for u in users} == {"admin", "receptionist", "specialist", "owner", "patient"}
    for user in users:
        assert f"{user['email']} / {user['password']}" in first.stderr
        assert PasswordHasher().verify(_stored_hash(scratch_env["DATABASE_URL"], user["email"]),
                                       user["password"])  # fmt: skip

    again = _cli("seed", "demo", "--once", env=scratch_env)
    assert again.returncode == 0, again.stderr
    assert orjson.loads(again.stdout)["organization_id"] == demo["organization_id"]
    for user in users:
        assert user["password"] not in again.stdout + again.stderr
    assert "already exists" in again.stderr and "--reset-password" in again.stderr

    # The way back in: a new random password for one login, shown once; the old one is dead.
    admin = next(u for u in users if u["role"] == "admin")
    reset = _cli("seed", "demo", "--reset-password", admin["email"], env=scratch_env)
    assert reset.returncode == 0, reset.stderr
    new = orjson.loads(reset.stdout)["password"]
    assert new != admin["password"]
    stored = _stored_hash(scratch_env["DATABASE_URL"], admin["email"])
    assert PasswordHasher().verify(stored, new)
    with pytest.raises(Exception):  # noqa: B017 - argon2's mismatch error
        PasswordHasher().verify(stored, admin["password"])

    # Only demo logins: the reset is no back door to real accounts.
    refused = _cli("seed", "demo", "--reset-password", "someone@clinic.example", env=scratch_env)
    assert refused.returncode == 2 and "no demo login" in refused.stderr


def test_seed_demo_refuses_in_production(scratch_env: dict[str, str]) -> None:
    strong = {"CADENCE_SECRET": "s" * 48, "CADENCE_DB_APP_PASSWORD": "p" * 48}
    done = _cli("seed", "demo", env={**scratch_env, **strong, "CADENCE_ENV": "production"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "refusing" in lines[0] and "Traceback" not in done.stderr
    assert done.stdout == ""
