"""Issue 15, hole 3 (refresh): two refreshes fired at once with the same refresh token (two tabs,
a retried request) must not log the user out, while a rotated token replayed after the short
grace window still counts as theft and ends the whole sign-in, its live access token included.
The clock is moved by backdating the token's use in the database (time travel, not a mock).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.identity.sessions import REFRESH_GRACE
from server.resources import DB_KEY
from storage.types import Role
from tests.integration.identity._world import PASSWORD, World, build_world

Client = TestClient[web.Request, web.Application]


async def _world(api: Client) -> World:
    return await build_world(api.app)


async def _login(api: Client, email: str) -> dict[str, Any]:
    response = await api.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status == 200, await response.text()
    result: dict[str, Any] = await response.json()
    return result


async def _refresh(api: Client, token: str) -> tuple[int, dict[str, Any]]:
    response = await api.post("/v1/auth/refresh", json={"refresh_token": token})
    return response.status, await response.json() if response.status == 200 else {}


async def _me(api: Client, access: str) -> int:
    response = await api.get("/v1/me", headers={"Authorization": f"Bearer {access}"})
    return response.status


async def _age_uses(api: Client, user_id: uuid.UUID) -> None:
    """Move the clock past the grace window for every token of `user_id` already used."""
    async with api.app[DB_KEY].platform() as conn:
        await conn.execute(
            "UPDATE refresh_tokens SET used_at = used_at - $2::interval "
            "WHERE user_id = $1 AND used_at IS NOT NULL",
            user_id,
            REFRESH_GRACE * 2,
        )


async def test_two_refreshes_fired_at_once_both_get_a_working_pair(client: Client) -> None:  # noqa: F811
    world = await _world(client)
    member = world.a.members[Role.SPECIALIST]
    pair = await _login(client, member.email)
    results = await asyncio.gather(*(_refresh(client, pair["refresh_token"]) for _ in range(2)))
    assert [status for status, _ in results] == [200, 200]
    first, second = (body for _, body in results)
    assert first["refresh_token"] != second["refresh_token"]
    # Neither tab was logged out: both access tokens work and both refresh tokens rotate on.
    for body in (first, second):
        assert await _me(client, body["access_token"]) == 200
        status, _ = await _refresh(client, body["refresh_token"])
        assert status == 200


async def test_a_rotated_token_replayed_after_the_grace_is_theft_and_ends_the_sign_in(
    client: Client,  # noqa: F811
) -> None:
    world = await _world(client)
    member = world.a.members[Role.RECEPTIONIST]
    stolen = await _login(client, member.email)
    status, legit = await _refresh(client, stolen["refresh_token"])
    assert status == 200
    await _age_uses(client, member.user_id)

    status, _ = await _refresh(client, stolen["refresh_token"])  # the thief's replay
    assert status == 401
    # The whole sign-in ends: the legitimate branch's refresh token and its live access token.
    assert (await _refresh(client, legit["refresh_token"]))[0] == 401
    assert await _me(client, legit["access_token"]) == 401
    # Another sign-in of the same person is untouched.
    other = await _login(client, member.email)
    assert await _me(client, other["access_token"]) == 200


async def test_the_grace_never_revives_a_signed_out_token(client: Client) -> None:  # noqa: F811
    world = await _world(client)
    member = world.a.members[Role.OWNER]
    pair = await _login(client, member.email)
    status, rotated = await _refresh(client, pair["refresh_token"])
    assert status == 200
    response = await client.post(
        "/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]}
    )
    assert response.status == 204
    # Within the grace window, but the sign-in is over: no new pair from the previous token.
    assert (await _refresh(client, pair["refresh_token"]))[0] == 401
    assert await _me(client, rotated["access_token"]) == 401
