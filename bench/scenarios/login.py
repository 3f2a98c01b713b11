"""`login`: password logins per second through a real server process (POST /v1/auth/login:
argon2id verify, membership lookup, session row, token pair, rate limits and audit), closed loop.

Peer (same run): the bare argon2id verify with the server's parameters, in as many threads as the
server hashes at once: the floor a login cannot go below. Each request comes from its own
loopback address (127.x.y.z) and its own account, as a crowd of users would: the per-address and
per-account limits are part of the path being measured, not a ceiling the bench runs into.
Check: every login answered 200 with a token pair.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import aiohttp
import asyncpg

from bench.runner import Options
from bench.schema import Goal, Result
from bench.server_process import live_stack
from bench.stats import percentile
from server.identity.passwords import DEFAULT_HASHER

PASSWORD = "bench-" + secrets.token_urlsafe(12)
HASH_THREADS = 2  # the server's Passwords(concurrency=2)


def _addresses() -> itertools.cycle[str]:
    """Source addresses 127.1.0.1 ... on the loopback range, one per request."""
    return itertools.cycle(f"127.{1 + i // 65_000}.{(i // 250) % 260}.{1 + i % 250}"
                           for i in range(20_000))  # fmt: skip


async def _accounts(dsn: str, n: int) -> list[str]:
    """An organization with `n` receptionists sharing one password hash (one hash costs ~20 ms,
    and identical hashes verify the same way)."""
    password_hash = await asyncio.to_thread(DEFAULT_HASHER.hash, PASSWORD)
    emails = [f"bench-{i}-{secrets.token_hex(3)}@bench.example" for i in range(n)]
    conn = await asyncpg.connect(dsn)
    try:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug, timezone) VALUES ('Bench', $1, 'UTC')"
            " RETURNING id",
            "b-" + secrets.token_hex(5),
        )
        users = [uuid.uuid4() for _ in emails]
        await conn.copy_records_to_table(
            "users",
            records=[(u, e, password_hash) for u, e in zip(users, emails, strict=True)],
            columns=["id", "email", "password_hash"],
        )
        await conn.copy_records_to_table(
            "memberships",
            records=[(org, u, "receptionist") for u in users],
            columns=["organization_id", "user_id", "role"],
        )
    finally:
        await conn.close()
    return emails


def _peer(duration_s: float) -> float:
    """Bare argon2id verifies per second in HASH_THREADS threads."""
    stored = DEFAULT_HASHER.hash(PASSWORD)
    deadline = time.perf_counter() + duration_s

    def worker() -> int:
        done = 0
        while time.perf_counter() < deadline:
            DEFAULT_HASHER.verify(stored, PASSWORD)
            done += 1
        return done

    t0 = time.perf_counter()
    with ThreadPoolExecutor(HASH_THREADS) as pool:
        total = sum(pool.map(lambda _: worker(), range(HASH_THREADS)))
    return total / (time.perf_counter() - t0)


async def run(opts: Options) -> Result:
    clients = int(opts.pick(opts.clients, 16, 4))
    duration = float(opts.pick(opts.duration, 15, 3))
    async with live_stack() as server:
        emails = await _accounts(server.dsn, 4_000 if not opts.quick else 200)
        accounts = itertools.cycle(emails)
        sources = _addresses()
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        url = server.base + "/v1/auth/login"

        async def one() -> None:
            # A fresh connection from a fresh loopback address: one user, one login.
            connector = aiohttp.TCPConnector(local_addr=(next(sources), 0), force_close=True)
            body = {"email": next(accounts), "password": PASSWORD}
            async with aiohttp.ClientSession(connector=connector) as http:
                t0 = time.perf_counter()
                async with http.post(url, json=body) as r:
                    data = await r.json(content_type=None)
                    ok = r.status == 200 and "access_token" in data
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[200 if ok else r.status] += 1

        async def client(deadline: float) -> None:
            while time.perf_counter() < deadline:
                try:
                    await one()
                except (TimeoutError, aiohttp.ClientError):
                    statuses[0] += 1

        for _ in range(clients):  # warm-up: connections, caches, the hash thread pool
            await one()
        statuses.clear()
        latencies.clear()
        t0 = time.perf_counter()
        deadline = t0 + duration
        await asyncio.gather(*(client(deadline) for _ in range(clients)))
        elapsed = time.perf_counter() - t0
    peer = await asyncio.to_thread(_peer, min(duration, 5.0))
    logins = statuses[200] / elapsed
    failed = sum(v for k, v in statuses.items() if k != 200)
    return Result(
        scenario="login",
        parameters={"clients": clients, "duration_s": duration, "hash_threads": HASH_THREADS},
        figures={
            "logins_per_s": logins,
            "login_p50_ms": percentile(latencies, 50),
            "login_p99_ms": percentile(latencies, 99),
            "failed": float(failed),
        },
        baseline_name="bare argon2id verify, same parameters and threads",
        baseline={"logins_per_s": peer},
        ratios={"logins_per_s": logins / peer if peer else float("nan")},
        goals=[Goal("failed", "<=", 0)],
        checks={"every_login_answered_200": failed == 0},
        notes=[
            f"{clients} clients in a closed loop, each login from its own loopback address and "
            "account; statuses other than 200: "
            + (", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()) if k != 200) or "none"),
        ],
    )
