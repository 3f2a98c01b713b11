"""Login and public endpoints are rate limited in Redis: 429 with Retry-After, no account
enumeration, and a burst does not make the server unresponsive."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.identity.ratelimit import ACCOUNT_BACKOFF
from server.identity.routes import LOGIN_RATE
from server.resources import KEYS_KEY, REDIS_KEY
from storage.types import Role
from tests.integration.identity._world import PASSWORD, World

Client = TestClient[web.Request, web.Application]


async def _attempt(
    client: Client, email: str, password: str = "wrong password!"
) -> tuple[int, str | None, str | None, str | None]:
    response = await client.post("/v1/auth/login", json={"email": email, "password": password})
    body = await response.json()
    error = body.get("error", {})
    return (
        response.status,
        error.get("code"),
        error.get("message"),
        response.headers.get("Retry-After"),
    )


async def _forget_address_counts(client: Client) -> None:
    """Each test client speaks from 127.0.0.1; clear the per-address counters between phases."""
    redis, keys = client.app[REDIS_KEY], client.app[KEYS_KEY]
    for bucket in ("POST /v1/auth/login", "login-failures:address", "login-block:address"):
        async for key in redis.scan_iter(match=keys.rate(bucket, "*")):
            await redis.delete(key)


async def test_a_burst_of_1000_wrong_passwords_is_limited_and_tells_nothing(
    client: Client, world: World
) -> None:
    known = world.a.members[Role.ADMIN].email
    unknown = f"ghost-{uuid.uuid4().hex}@example.test"
    probe_latencies: list[float] = []
    burst_done = asyncio.Event()

    async def probe() -> None:  # a separate connection pool: the burst must not starve others
        async with aiohttp.ClientSession() as session:
            while not burst_done.is_set():
                started = time.perf_counter()
                async with session.get(client.make_url("/health")) as response:
                    assert response.status == 200
                probe_latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.05)

    started = time.perf_counter()
    prober = asyncio.create_task(probe())
    results = await asyncio.gather(
        *(_attempt(client, known if i % 2 else unknown) for i in range(1000))
    )
    burst_done.set()
    await prober
    elapsed = time.perf_counter() - started

    assert elapsed < 60, f"burst took {elapsed:.1f}s"  # a hang, not a timing goal
    statuses = [r[0] for r in results]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) <= LOGIN_RATE.limit
    assert statuses.count(429) >= 1000 - LOGIN_RATE.limit
    limited = [r for r in results if r[0] == 429]
    assert all(r[1] == "rate_limited" and r[3] and int(r[3]) >= 1 for r in limited)
    # Same answers for the account that exists and the one that does not.
    by_email = {
        email: {(s, c, m) for (s, c, m, _), i in zip(results, range(1000), strict=True)
                if (known if i % 2 else unknown) == email}
        for email in (known, unknown)
    }  # fmt: skip
    assert by_email[known] == by_email[unknown]
    # Responsive = every probe answered, within a bound generous enough for a loaded CI box.
    assert probe_latencies and max(probe_latencies) < 5.0, probe_latencies


async def test_failures_slow_an_account_down_exactly_like_a_missing_one(
    client: Client, world: World
) -> None:
    known = world.a.members[Role.RECEPTIONIST].email
    unknown = f"ghost-{uuid.uuid4().hex}@example.test"
    transcripts = {}
    retry_after = {}
    for email in (known, unknown):
        await _forget_address_counts(client)
        attempts = [await _attempt(client, email) for _ in range(ACCOUNT_BACKOFF.free + 1)]
        transcripts[email] = [(s, c, m) for s, c, m, _ in attempts]
        # Backing off: even the right password waits, as it would for a missing account.
        right = await _attempt(client, email, PASSWORD)
        transcripts[email].append(right[:3])
        retry_after[email] = right[3]
    assert transcripts[known] == transcripts[unknown]
    statuses = [s for s, _, _ in transcripts[known]]
    assert statuses == [401] * (ACCOUNT_BACKOFF.free + 1) + [429]
    assert transcripts[known][-1][1] == "rate_limited"
    # A delay, not a lock: after Retry-After the right password works.
    retry = retry_after[known]
    assert retry and 1 <= int(retry) <= ACCOUNT_BACKOFF.max_s
    await asyncio.sleep(int(retry) + 0.2)
    await _forget_address_counts(client)
    assert (await _attempt(client, known, PASSWORD))[0] == 200

    # Another account from the same address is not slowed by the first one's failures.
    await _forget_address_counts(client)
    other = world.a.members[Role.OWNER].email
    assert (await _attempt(client, other, PASSWORD))[0] == 200


async def test_successful_sign_ins_never_lock_an_account(client: Client, world: World) -> None:
    """Ten sign-ins used to lock an account for 15 minutes even when all of them succeeded."""
    email = world.a.members[Role.SPECIALIST].email
    statuses = [(await _attempt(client, email, PASSWORD))[0] for _ in range(15)]
    assert statuses == [200] * 15


async def test_every_public_endpoint_is_rate_limited(client: Client) -> None:
    statuses = [(await client.get("/health")).status for _ in range(310)]
    assert statuses.count(200) == 300 and statuses[-1] == 429
    refresh = [
        (await client.post("/v1/auth/refresh", json={"refresh_token": "x" * 30})).status
        for _ in range(61)
    ]
    assert refresh[:60] == [401] * 60 and refresh[60] == 429
