"""Webhooks end to end through the product's own worker (`cadence consume`): events published
into an organization's stream reach a verifying receiver, and a worker killed with -9 in the
middle of a burst loses none of them."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY, EVENTS_KEY
from server.settings import Settings
from storage.types import Channel
from tests.integration.identity._world import World
from tests.integration.webhooks._receiver import Receiver
from tests.integration.webhooks.test_delivery import add_endpoint
from tests.support.consumers import until, worker_env

Client = TestClient[web.Request, web.Application]
ROOT = Path(__file__).resolve().parents[3]
BURST = 1000


def _worker(settings: Settings, name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "server.cli", "consume", "--name", name],
        cwd=ROOT,
        env=worker_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_a_worker_killed_mid_burst_loses_no_event_and_a_deduping_receiver_sees_each_once(
    client: Client, world: World, receiver: Receiver, settings: Settings
) -> None:
    endpoint = await add_endpoint(client, world, receiver, "burst", ["test.*"])
    route = receiver.route("burst")
    channel = Channel.org(world.a.id).name
    first = _worker(settings, "burst-1")
    second: subprocess.Popen[bytes] | None = None
    try:
        positions = []
        for start in range(0, BURST, 100):
            positions += await client.app[EVENTS_KEY].publish_many(
                [(channel, "test.burst", {"n": n}) for n in range(start, start + 100)]
            )
        expected = {f"evt_{p.epoch}_{p.offset}" for p in positions}

        async def some_arrived() -> bool:
            return len(route.received) >= 100

        await until(some_arrived, 120)
        first.send_signal(signal.SIGKILL)
        await asyncio.to_thread(first.wait, 30)
        assert len({r.webhook_id for r in route.received}) < BURST, "killed after the burst"

        # A second worker takes over the stream entries and the deliveries the first one held.
        second = _worker(settings, "burst-2")

        async def statuses() -> dict[str, int]:
            async with client.app[DB_KEY].platform() as conn:
                rows = await conn.fetch(
                    "SELECT status, count(*) AS n FROM webhook_deliveries WHERE endpoint_id = $1"
                    " GROUP BY status",
                    uuid.UUID(endpoint["id"]),
                )
            return {r["status"]: r["n"] for r in rows}

        async def all_delivered() -> bool:
            # Including what the dead worker sent but never recorded: sent again after its
            # lease, under the same webhook-id.
            return await statuses() == {"delivered": BURST}

        await until(all_delivered, 240)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                await asyncio.to_thread(proc.wait, 30)
    ids = [r.webhook_id for r in route.received]
    assert set(ids) == expected
    assert route.unverified == 0
    # At least once: only the batch the killed worker was sending when it died comes twice.
    assert len(ids) - len(set(ids)) <= 50
