"""The actor pool against real Ray: stable routing, micro-batching, restart after kill -9; each
test runs over the same-host link and over plain Ray calls (actors/_pool/_local_link.py)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from actors._pool import metrics
from actors._pool._pool import ActorPool, ShardUnavailable, kill_all
from actors._pool.sharding import shard_of
from tests.integration.actors._echo import Echo, Slow


@pytest.fixture(params=[True, False], ids=["link", "ray"])
async def pool(ray_session: None, request: pytest.FixtureRequest) -> AsyncIterator[ActorPool]:
    name = f"echo-{secrets.token_hex(3)}"
    p = ActorPool(Echo, name, 2, ("t",), retry_window_s=15, direct=request.param)
    await p.start()
    yield p
    await p.stop()
    kill_all(name, 2)


def _calls(pool: ActorPool, path: str) -> float:
    calls: float = metrics.RAY_CALLS.labels(pool.name, path, "ok")._value.get()
    return calls


def test_shard_placement_is_stable_and_spread() -> None:
    ids = [uuid.uuid4() for _ in range(1000)]
    first = [shard_of(i, 4) for i in ids]
    assert first == [shard_of(i, 4) for i in ids]
    assert min(first.count(s) for s in range(4)) > 150


async def test_requests_reach_the_owning_shard_in_order(pool: ActorPool) -> None:
    keys = [uuid.uuid4() for _ in range(50)]
    results = await asyncio.gather(*(pool.call(k, n) for n, k in enumerate(keys)))
    for n, (key, (tag, index, echoed, _)) in enumerate(zip(keys, results, strict=True)):
        assert tag == "t" and echoed == n and index == pool.shard_for(key)


async def test_concurrent_requests_are_batched(pool: ActorPool) -> None:
    key = uuid.uuid4()
    await asyncio.gather(*(pool.call(key, i) for i in range(2000)))
    sizes = await pool.handle(pool.shard_for(key)).batch_sizes.remote()
    assert sum(sizes) >= 2000 and max(sizes) > 20  # far fewer calls than requests


async def test_an_application_error_fails_only_its_batch(pool: ActorPool) -> None:
    key = uuid.uuid4()
    with pytest.raises(ValueError):
        await pool.call(key, "boom")
    assert (await pool.call(key, 1))[2] == 1


async def test_kill_9_restarts_the_actor_and_idempotent_calls_get_through(
    pool: ActorPool,
) -> None:
    key = uuid.uuid4()
    before = (await pool.call(key, 0))[3]
    os.kill(before, signal.SIGKILL)
    started = time.monotonic()
    result = await pool.call(key, 1, idempotent=True)
    assert result[3] != before and result[2] == 1
    assert time.monotonic() - started < 10


async def test_non_idempotent_calls_fail_fast_during_a_restart(pool: ActorPool) -> None:
    key = uuid.uuid4()
    pid = (await pool.call(key, 0))[3]
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(0.2)
    outcomes = []
    for _ in range(3):
        try:
            outcomes.append((await pool.call(key, 1))[2])
        except ShardUnavailable as exc:
            outcomes.append(exc.retry_after_s)
            await asyncio.sleep(0.5)
    assert 1 in outcomes or all(o == 1 for o in outcomes)


async def test_batches_take_the_link_when_the_actor_is_on_this_host(pool: ActorPool) -> None:
    key = uuid.uuid4()
    await asyncio.gather(*(pool.call(key, i) for i in range(50)))
    linked, plain = _calls(pool, "link"), _calls(pool, "handle_batch")
    assert (linked > 0 and plain == 0) if pool.direct else (linked == 0 and plain > 0)


async def test_the_link_socket_is_private_to_this_user(pool: ActorPool) -> None:
    where = await pool.handle(0).link.remote()
    assert where is not None
    path = where[1]
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700


async def test_a_request_in_flight_when_its_actor_dies_is_resent_marked(pool: ActorPool) -> None:
    key = uuid.uuid4()
    before = (await pool.call(key, 0))[3]
    call = asyncio.create_task(pool.call(key, Slow(1.0), idempotent=True))
    await asyncio.sleep(0.3)  # inside the actor now
    os.kill(before, signal.SIGKILL)
    _, _, echoed, pid = await asyncio.wait_for(call, 15)
    assert pid != before
    assert echoed == Slow(1.0, resent=True)
    assert (await pool.call(key, 2))[2] == 2  # and the pool goes on over a new link


async def test_an_unreachable_socket_falls_back_to_ray_calls(ray_session: None) -> None:
    """A temp-dir cleaner may delete an actor's socket file: batches then go through Ray."""
    name = f"echo-{secrets.token_hex(3)}"
    p = ActorPool(Echo, name, 1, ("t",))
    await p.start()
    try:
        where = await p.handle(0).link.remote()
        assert where is not None
        os.unlink(where[1])
        assert (await p.call(uuid.uuid4(), 7))[2] == 7
        assert _calls(p, "handle_batch") == 1 and _calls(p, "link") == 0
    finally:
        await p.stop()
        kill_all(name, 1)
