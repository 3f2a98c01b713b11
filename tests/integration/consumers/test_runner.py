"""The consumer runner against real Redis and Postgres: at-least-once delivery through consumer
groups, takeover of a killed consumer's entries, dead letters, several consumers sharing a
group."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import psutil
import pytest_asyncio
import redis.asyncio as aioredis

from actors.consumers import Context, Runner, RunnerOptions
from server.consumers import worker_context
from server.settings import Settings
from storage.streams import ConsumerGroups
from storage.types import Channel
from tests.support.consumers import BatchRecordingHandler, RecordingHandler, until, worker_env
from tests.support.tenants import make_org

ROOT = Path(__file__).resolve().parents[3]
FAST = RunnerOptions(batch=20, block_ms=100, retry_idle_s=0.3, claim_every_s=0.1, max_attempts=3)


@pytest_asyncio.fixture
async def ctx(settings: Settings) -> AsyncIterator[Context]:
    async with worker_context(settings, pool_size=2) as found:
        yield found


async def _publish(ctx: Context, org: uuid.UUID, count: int, kind: str = "test.ping") -> None:
    channel = Channel.org(org).name
    for start in range(0, count, 100):
        await ctx.events.publish_many(
            [(channel, kind, {"n": n}) for n in range(start, min(count, start + 100))]
        )


async def _pending(redis: aioredis.Redis, ctx: Context, org: uuid.UUID, group: str) -> int:
    info = await ConsumerGroups(redis, ctx.keys, group).info(ctx.keys.stream(Channel.org(org).name))
    return -1 if info is None else info.pending


def _worker(
    settings: Settings, name: str, org: uuid.UUID | None, key: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.consumer_proc", name, str(org or "none"), key],
        cwd=ROOT,
        env=worker_env(settings),
        stdout=subprocess.PIPE,
        text=True,
    )


async def _ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 60)
    assert line.strip() == "ready"


async def test_kill_9_mid_burst_loses_nothing(settings: Settings, ctx: Context) -> None:
    org = await make_org(settings.database_url)
    seen = ctx.keys.named("test", "seen", uuid.uuid4().hex)
    first = _worker(settings, "worker-a", org, seen)
    second: subprocess.Popen[str] | None = None
    try:
        await _ready(first)
        await _publish(ctx, org, 1000)

        async def some_done() -> bool:
            return int(await ctx.redis.hlen(seen)) >= 200

        await until(some_done)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert int(await ctx.redis.hlen(seen)) < 1000, "the burst ended before the kill"

        # Another worker, under another name, takes over what the dead one left pending.
        second = _worker(settings, "worker-b", org, seen)
        await _ready(second)

        async def all_done() -> bool:
            done = int(await ctx.redis.hlen(seen)) == 1000
            return done and await _pending(ctx.redis, ctx, org, "recording") == 0

        await until(all_done)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(30)
    counts = [int(v) for v in (await ctx.redis.hgetall(seen)).values()]
    assert len(counts) == 1000
    # At least once: only what the killed worker had in hand (one read batch) comes twice.
    assert sum(counts) - 1000 <= FAST.batch


async def test_a_restart_under_the_same_name_reads_its_pending_first(
    settings: Settings, ctx: Context
) -> None:
    org = await make_org(settings.database_url)
    seen = ctx.keys.named("test", "seen", uuid.uuid4().hex)
    groups = ConsumerGroups(ctx.redis, ctx.keys, "recording")
    stream = groups.stream_of(org)
    await groups.ensure(stream)
    await _publish(ctx, org, 30)
    # A consumer read these and died before acknowledging them.
    taken = await groups.read("same-name", [stream], count=30, block_ms=None)
    assert len(taken) == 30
    # Long idle bound: only a restart under the same name can pick them up this soon.
    options = RunnerOptions(block_ms=100, retry_idle_s=3600, only=frozenset({org}))
    runner = Runner(ctx, [RecordingHandler(ctx.redis, seen)], [], consumer="same-name",
                    options=options)  # fmt: skip
    runner.start()
    try:

        async def done() -> bool:
            return await _pending(ctx.redis, ctx, org, "recording") == 0

        await until(done)
    finally:
        await runner.stop()
    assert int(await ctx.redis.hlen(seen)) == 30


async def test_a_poisonous_event_becomes_a_dead_letter(settings: Settings, ctx: Context) -> None:
    org = await make_org(settings.database_url)
    seen = ctx.keys.named("test", "seen", uuid.uuid4().hex)
    handler = RecordingHandler(ctx.redis, seen, fail_type="test.boom")
    options = RunnerOptions(
        batch=FAST.batch, block_ms=100, retry_idle_s=0.3, claim_every_s=0.1, max_attempts=3,
        only=frozenset({org}),
    )  # fmt: skip
    runner = Runner(ctx, [handler], [], consumer="dl", options=options)
    runner.start()
    try:
        await _publish(ctx, org, 5)
        await _publish(ctx, org, 1, kind="test.boom")
        await _publish(ctx, org, 5)

        async def dead() -> bool:
            async with ctx.db.platform() as conn:
                n = await conn.fetchval(
                    "SELECT count(*) FROM event_dead_letters WHERE organization_id = $1", org
                )
            return bool(n) and await _pending(ctx.redis, ctx, org, "recording") == 0

        await until(dead)
    finally:
        await runner.stop()
    async with ctx.db.platform() as conn:
        row = await conn.fetchrow(
            "SELECT group_name, event_type, attempts, error FROM event_dead_letters"
            " WHERE organization_id = $1",
            org,
        )
    assert row is not None
    assert (row["group_name"], row["event_type"]) == ("recording", "test.boom")
    assert row["attempts"] >= 3
    assert "refused by the test" in row["error"]
    counts = [int(v) for v in (await ctx.redis.hgetall(seen)).values()]
    assert counts == [1] * 10


async def test_a_batch_handler_takes_batches_and_a_bad_event_falls_back_to_one_by_one(
    settings: Settings, ctx: Context
) -> None:
    org = await make_org(settings.database_url)
    seen = ctx.keys.named("test", "seen", uuid.uuid4().hex)
    handler = BatchRecordingHandler(ctx.redis, seen, fail_type="test.boom")
    # Published before the runner starts, so its first read takes them as one batch.
    await _publish(ctx, org, 40)
    await _publish(ctx, org, 1, kind="test.boom")
    await _publish(ctx, org, 10)
    options = RunnerOptions(
        batch=100, block_ms=100, retry_idle_s=0.3, claim_every_s=0.1, max_attempts=2,
        only=frozenset({org}),
    )  # fmt: skip
    runner = Runner(ctx, [handler], [], consumer="batch", options=options)
    runner.start()
    try:

        async def settled() -> bool:
            return int(await ctx.redis.hlen(seen)) == 50 and (
                await _pending(ctx.redis, ctx, org, "recording") == 0
            )

        await until(settled)
    finally:
        await runner.stop()
    # Good events waiting when a consumer reads are one batch, taken whole.
    await _publish(ctx, org, 30)
    runner = Runner(ctx, [handler], [], consumer="batch", options=options)
    runner.start()
    try:

        async def batched() -> bool:
            return int(await ctx.redis.hlen(seen)) == 80

        await until(batched)
    finally:
        await runner.stop()
    counts = await ctx.redis.hgetall(seen)
    # The good events once each (the batch with the bad one was refused as a whole, then
    # handled one by one); the bad one was given up as a dead letter.
    assert sorted(int(v) for v in counts.values()) == [1] * 80
    assert int(await ctx.redis.get(seen + ":batches") or 0) == 1
    async with ctx.db.platform() as conn:
        dead = await conn.fetchval(
            "SELECT count(*) FROM event_dead_letters WHERE organization_id = $1", org
        )
    assert dead == 1


async def test_consumers_of_one_group_share_it_and_groups_each_see_everything(
    settings: Settings, ctx: Context
) -> None:
    org = await make_org(settings.database_url)
    shared = ctx.keys.named("test", "seen", uuid.uuid4().hex)
    other = ctx.keys.named("test", "seen", uuid.uuid4().hex)
    options = RunnerOptions(block_ms=100, only=frozenset({org}))
    runners = [
        Runner(ctx, [RecordingHandler(ctx.redis, shared)], [], consumer=f"c{i}", options=options)
        for i in range(2)
    ]
    runners.append(
        Runner(ctx, [RecordingHandler(ctx.redis, other, group="another")], [], options=options)
    )
    for r in runners:
        r.start()
    try:
        await _publish(ctx, org, 300)

        async def done() -> bool:
            return int(await ctx.redis.hlen(shared)) == 300 == int(await ctx.redis.hlen(other))

        await until(done)
    finally:
        for r in runners:
            await r.stop()
    for key in (shared, other):
        assert {int(v) for v in (await ctx.redis.hgetall(key)).values()} == {1}


async def test_dead_letters_are_tenant_rows(settings: Settings) -> None:
    """The table is under row-level security like every tenant table."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        enabled = await conn.fetchval(
            "SELECT relrowsecurity FROM pg_class WHERE relname = 'event_dead_letters'"
        )
    finally:
        await conn.close()
    assert enabled


async def test_a_runner_with_no_organization_to_read_waits_instead_of_spinning(
    settings: Settings,
) -> None:
    """Before any organization exists there is no stream to read. The loop used to go round at
    once without ever yielding: a worker spun a whole core and answered nothing else. Idle, it
    now uses next to no CPU."""
    proc = _worker(settings, "idle", None, "unused")
    try:
        await _ready(proc)
        worker = psutil.Process(proc.pid)
        before = sum(worker.cpu_times()[:2])
        await asyncio.sleep(2.0)
        used = sum(worker.cpu_times()[:2]) - before
    finally:
        proc.kill()
        proc.wait(30)
    # A spinning loop used about 2 s of CPU in these 2 s; idle is well under a tenth of that.
    assert used < 0.5, used
