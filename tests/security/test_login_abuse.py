"""Issue 15, hole 9 (sign-in), as attacks against the real server: ten sign-ins used to lock an
account for 15 minutes even when they succeeded, so anyone could lock anyone out. Now only
failures count, per account and per client address, with a growing delay (429 + Retry-After):
an attacker hammering someone's account slows it down by a bounded, short delay, after which the
owner's correct password from another address works; an address that keeps failing backs off
for longer and longer. Requests come from distinct loopback addresses (127.0.0.x), which the
server sees as distinct clients.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.identity.ratelimit import ACCOUNT_BACKOFF, ADDRESS_BACKOFF
from storage.types import Role
from tests.integration.identity._world import PASSWORD, World, build_world

Client = TestClient[web.Request, web.Application]
Attempt = Callable[..., Any]


class From:
    """Sign-in attempts from one source address."""

    def __init__(self, session: aiohttp.ClientSession, client: Client) -> None:  # noqa: F811
        self._session = session
        self._client = client

    async def login(self, email: str, password: str = "wrong password!") -> tuple[int, int | None]:
        """(status, Retry-After seconds or None)."""
        async with self._session.post(
            self._client.make_url("/v1/auth/login"), json={"email": email, "password": password}
        ) as response:
            await response.read()
            retry = response.headers.get("Retry-After")
            return response.status, int(retry) if retry else None


@pytest_asyncio.fixture
async def address(client: Client) -> AsyncIterator[Callable[[str], From]]:  # noqa: F811
    sessions: list[aiohttp.ClientSession] = []

    def open_from(ip: str) -> From:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(ip, 0)))
        sessions.append(session)
        return From(session, client)

    yield open_from
    for session in sessions:
        await session.close()


async def _world(api: Client) -> World:
    return await build_world(api.app)


async def test_an_attacker_cannot_lock_the_owner_out(
    client: Client,  # noqa: F811
    address: Callable[[str], From],
) -> None:
    world = await _world(client)
    victim = world.a.members[Role.RECEPTIONIST].email
    attacker, owner = address("127.0.0.2"), address("127.0.0.3")

    # The attacker burns the free failures, then keeps going as fast as it can.
    statuses = [(await attacker.login(victim))[0] for _ in range(ACCOUNT_BACKOFF.free + 1)]
    assert statuses == [401] * (ACCOUNT_BACKOFF.free + 1)
    # (Within the per-address request rate of the route, which is another limit.)
    burst = await asyncio.gather(*(attacker.login(victim) for _ in range(10)))
    assert {status for status, _ in burst} == {429}  # blocked attempts are not even tried
    assert all(retry and retry <= ACCOUNT_BACKOFF.max_s for _, retry in burst)

    # The owner, elsewhere, with the right password: at most a short wait, never a lock-out.
    status, retry = await owner.login(victim, PASSWORD)
    if status == 429:
        assert retry is not None and retry <= ACCOUNT_BACKOFF.max_s
        await asyncio.sleep(retry + 0.2)
        status, retry = await owner.login(victim, PASSWORD)
    assert status == 200


async def test_the_delay_grows_with_each_further_failure(
    client: Client,  # noqa: F811
    address: Callable[[str], From],
) -> None:
    world = await _world(client)
    victim = world.a.members[Role.OWNER].email
    attacker = address("127.0.0.4")
    for _ in range(ACCOUNT_BACKOFF.free):
        assert (await attacker.login(victim))[0] == 401
    delays = []
    for _ in range(2):
        assert (await attacker.login(victim))[0] == 401  # counted: sets the next block
        status, retry = await attacker.login(victim)
        assert status == 429 and retry is not None
        delays.append(retry)
        await asyncio.sleep(retry + 0.2)
    assert delays[1] > delays[0] >= 1


async def test_successful_sign_ins_never_count_and_reset_the_accounts_failures(
    client: Client,  # noqa: F811
    address: Callable[[str], From],
) -> None:
    world = await _world(client)
    email = world.a.members[Role.SPECIALIST].email
    laptop, phone = address("127.0.0.5"), address("127.0.0.8")
    # More successes than the old lock's ten (within the route's per-address request rate).
    assert [(await laptop.login(email, PASSWORD))[0] for _ in range(11)] == [200] * 11
    # Typos, then the right password: the typos are forgotten, the next typos start afresh.
    for device in (laptop, phone):
        typos = [(await device.login(email))[0] for _ in range(ACCOUNT_BACKOFF.free)]
        assert typos == [401] * ACCOUNT_BACKOFF.free
        assert (await device.login(email, PASSWORD))[0] == 200


async def test_an_address_spraying_many_accounts_backs_off_and_others_do_not(
    client: Client,  # noqa: F811
    address: Callable[[str], From],
) -> None:
    world = await _world(client)
    sprayer, clinic = address("127.0.0.6"), address("127.0.0.7")
    # One guess per account (no account counter gets anywhere), many accounts.
    for _ in range(ADDRESS_BACKOFF.free + 1):
        status, _ = await sprayer.login(f"ghost-{uuid.uuid4().hex}@example.test")
        assert status == 401
    # The address is slowed down for every account, even with a right password...
    status, retry = await sprayer.login(world.a.members[Role.ADMIN].email, PASSWORD)
    assert status == 429 and retry is not None and retry >= 1
    # ...while the same account from another address signs in at once.
    assert (await clinic.login(world.a.members[Role.ADMIN].email, PASSWORD))[0] == 200
