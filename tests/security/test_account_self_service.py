"""Issue 15, hole 10, as attacks against the real server: changing a password without knowing the
current one, learning from the reset endpoint whether an e-mail has an account, replaying,
outliving or predicting a reset code, and a stolen session surviving a password change. Mail
goes through the notification outbox to the file sink (CADENCE_MAIL_DIR), which the tests read
like an inbox. Also: a password hashed with older argon2 parameters is rehashed at the next
sign-in.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from pytest_aiohttp import AiohttpClient

from server import tokens
from server.app import create_app
from server.identity.passwords import DEFAULT_HASHER
from server.resources import DB_KEY
from server.settings import Settings
from storage.types import Role
from tests.integration.identity._world import PASSWORD, World, add_user, build_world

Client = TestClient[web.Request, web.Application]
NEW_PASSWORD = "a brand new passphrase 42"
_CODE = re.compile(r"^([A-Za-z0-9_-]{40,})$", re.MULTILINE)


@dataclasses.dataclass
class Setup:
    client: Client
    world: World
    inbox: Path

    async def mails(self, to: str, count: int, within: float = 5.0) -> list[dict[str, Any]]:
        """The inbox's mails to `to`, once there are `count` (the mail leaves in the background)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            found = [
                orjson.loads(p.read_bytes())
                for p in sorted(self.inbox.glob("*.json"))
                if orjson.loads(p.read_bytes())["to"].lower() == to.lower()
            ]
            if len(found) >= count or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.05)


@pytest_asyncio.fixture
async def setup(
    settings: Settings,  # noqa: F811
    aiohttp_client: AiohttpClient,
    tmp_path: Path,
) -> Setup:
    inbox = tmp_path / "mail"
    client: Client = await aiohttp_client(
        # With the consumers running: the notification outbox delivers the mail to the sink.
        create_app(dataclasses.replace(settings, mail_dir=str(inbox), consumers=True))
    )
    return Setup(client, await build_world(client.app), inbox)


async def _login(client: Client, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await client.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def _login_status(client: Client, email: str, password: str) -> int:
    response = await client.post("/v1/auth/login", json={"email": email, "password": password})
    return response.status


async def _me(client: Client, access: str) -> int:
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
    return response.status


def _code(mail: dict[str, Any]) -> str:
    match = _CODE.search(mail["body"])
    assert match, mail["body"]
    return match.group(1)


async def test_a_password_change_needs_the_current_password_and_ends_other_sessions(
    setup: Setup,
) -> None:
    client, member = setup.client, setup.world.a.members[Role.SPECIALIST]
    stolen = await _login(client, member.email)  # the session an attacker holds
    mine = await _login(client, member.email)
    socket = await client.ws_connect(
        "/v1/ws", headers={"Authorization": f"Bearer {stolen['access_token']}"}
    )
    assert (await _me(client, stolen["access_token"])) == 200
    auth = {"Authorization": f"Bearer {mine['access_token']}"}

    # Without the current password (a hijacked session trying to take the account): refused.
    wrong = await client.post(
        "/v1/auth/password",
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
        headers=auth,
    )
    assert wrong.status == 422
    assert "current_password" in (await wrong.json())["error"]["details"]["fields"]
    assert await _login_status(client, member.email, PASSWORD) == 200  # nothing changed

    right = await client.post(
        "/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=auth,
    )
    assert right.status == 204, await right.text()
    assert await _login_status(client, member.email, PASSWORD) == 401
    assert await _login_status(client, member.email, NEW_PASSWORD) == 200
    # The other sign-in is over at once: access token, refresh token, open socket.
    assert await _me(client, stolen["access_token"]) == 401
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
    assert refresh.status == 401
    closed = await socket.receive(timeout=5)
    assert closed.type is WSMsgType.CLOSE and closed.data == 4003
    # The sign-in that made the change goes on.
    assert await _me(client, mine["access_token"]) == 200
    again = await client.post("/v1/auth/refresh", json={"refresh_token": mine["refresh_token"]})
    assert again.status == 200


async def test_a_token_without_an_account_cannot_change_any_password(setup: Setup) -> None:
    member = setup.world.a.members[Role.ADMIN]
    # What `cadence token` mints for operators: well signed, but no account behind it.
    operator = tokens.issue(setup.world.secret, role=Role.ADMIN, org_id=setup.world.a.id)
    response = await setup.client.post(
        "/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers={"Authorization": f"Bearer {operator}"},
    )
    assert response.status == 403
    assert await _login_status(setup.client, member.email, PASSWORD) == 200


async def test_the_reset_request_tells_nothing_and_mails_a_single_use_code(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client, member = setup.client, setup.world.a.members[Role.OWNER]
    before = await _login(client, member.email)
    ghost = f"ghost-{uuid.uuid4().hex}@example.test"
    answers = []
    for email in (member.email, ghost):
        response = await client.post("/v1/auth/password-reset", json={"email": email})
        answers.append((response.status, await response.read()))
    assert answers[0] == answers[1] and answers[0][0] == 202

    mails = await setup.mails(member.email, 1)
    assert len(mails) == 1
    await asyncio.sleep(0.2)
    assert await setup.mails(ghost, 0, within=0) == []
    code = _code(mails[0])

    # Only a digest is stored.
    async with client.app[DB_KEY].platform() as conn:
        stored = await conn.fetch("SELECT token_hash FROM password_resets")
    assert all(code.encode() not in bytes(r["token_hash"]) for r in stored)
    assert hashlib.sha256(code.encode()).digest() in {bytes(r["token_hash"]) for r in stored}

    confirm = {"token": code, "new_password": NEW_PASSWORD}
    done = await client.post("/v1/auth/password-reset/confirm", json=confirm)
    assert done.status == 204, await done.text()
    assert await _login_status(client, member.email, NEW_PASSWORD) == 200
    assert await _login_status(client, member.email, PASSWORD) == 401
    assert await _me(client, before["access_token"]) == 401  # every sign-in ended
    # Single use: a replay is refused and does not set anything.
    replay = await client.post(
        "/v1/auth/password-reset/confirm", json={**confirm, "new_password": "attacker's choice 1"}
    )
    assert replay.status == 400 and (await replay.json())["error"]["code"] == "bad_request"
    assert await _login_status(client, member.email, "attacker's choice 1") == 401
    # Never logged.
    for record in caplog.records:
        assert code not in record.getMessage() and code not in repr(record.__dict__)


async def test_expired_superseded_and_made_up_codes_are_refused(setup: Setup) -> None:
    client, member = setup.client, setup.world.b.members[Role.RECEPTIONIST]
    for _ in range(2):
        response = await client.post("/v1/auth/password-reset", json={"email": member.email})
        assert response.status == 202
    first, second = (_code(m) for m in await setup.mails(member.email, 2))
    # A newer request retired the first code.
    old = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": first, "new_password": NEW_PASSWORD}
    )
    assert old.status == 400
    # 30 minutes later (the clock moved in the database), the second is dead too.
    async with client.app[DB_KEY].platform() as conn:
        await conn.execute(
            "UPDATE password_resets SET expires_at = now() - interval '1 second' "
            "WHERE token_hash = $1",
            hashlib.sha256(second.encode()).digest(),
        )
    late = await client.post(
        "/v1/auth/password-reset/confirm", json={"token": second, "new_password": NEW_PASSWORD}
    )
    assert late.status == 400
    made_up = await client.post(
        "/v1/auth/password-reset/confirm",
        json={"token": "A" * 43, "new_password": NEW_PASSWORD},
    )
    assert made_up.status == 400
    assert await _login_status(client, member.email, PASSWORD) == 200


async def test_an_outdated_argon2_hash_is_rehashed_at_sign_in(setup: Setup) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    email = f"legacy-{uuid.uuid4().hex[:8]}@example.test"
    db = setup.client.app[DB_KEY]
    user_id = await add_user(db, email, hashed=weak.hash(PASSWORD))
    async with db.platform() as conn:
        await conn.execute(
            "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'owner')",
            setup.world.a.id,
            user_id,
        )
    assert DEFAULT_HASHER.check_needs_rehash(weak.hash(PASSWORD))
    await _login(setup.client, email)
    async with db.platform() as conn:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE id = $1", user_id)
    assert not DEFAULT_HASHER.check_needs_rehash(stored)
    assert DEFAULT_HASHER.verify(stored, PASSWORD)
    await _login(setup.client, email)  # and it still signs in
