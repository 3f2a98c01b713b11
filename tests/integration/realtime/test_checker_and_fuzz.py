"""The order/completeness checker and the socket fuzzer (bench/) at a scale fit for the suite."""

from __future__ import annotations

import asyncio
import sys

import orjson
from aiohttp import web

from bench.ws_fuzz import fuzz
from realtime import Limits
from server.resources import DB_KEY
from storage.types import ChannelName, Role
from tests.integration.realtime.conftest import Connect, ServerFactory, make_clinic


async def _public_calendars(app: web.Application, n: int) -> list[str]:
    clinic = await make_clinic(app)
    async with app[DB_KEY].platform() as conn:
        service = await conn.fetchval(
            "SELECT service_id FROM calendars WHERE id = $1", clinic.public_calendar
        )
        rows = await conn.fetch(
            "INSERT INTO calendars (organization_id, name, service_id, timezone, public,"
            " slot_interval_min, horizon_days)"
            " SELECT $1, 'Cal', $2, 'UTC', true, 15, 30 FROM generate_series(1, $3) RETURNING id",
            clinic.org_id,
            service,
            n,
        )
    return [f"calendar:{row['id']}" for row in rows]


async def test_no_client_ever_sees_a_silent_gap(start_server: ServerFactory) -> None:
    """100 clients on 10 channels, 10,000 events, random drops and resumes; the clients and the
    publisher run in their own process (bench/gateway_checker.py), the server in this one."""
    server = await start_server(limits=Limits(queue_bytes=4 * 1024 * 1024, close_timeout_s=1))
    channels = await _public_calendars(server.app, 10)
    args = ["--url", server.url, "--prefix", server.settings.redis_prefix, "--clients", "100"]
    # --settle: catching up at the end is an outcome, not a timing; a busy machine gets time.
    args += ["--events", "10000", "--per-client", "2", "--drop-every", "1", "--settle", "120"]
    for channel in channels:
        args += ["--channel", channel]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.gateway_checker", *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 300)
    result = orjson.loads(out)
    assert result["ok"], result["violations"]
    assert result["silent_gaps"] == 0
    assert result["connections"] > 100  # clients really dropped and resumed
    assert result["deliveries_checked"] >= 100 * 2 * 1000 * 0.5


async def test_fuzzed_frames_get_error_replies_and_disturb_nobody(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server(limits=Limits(frames_per_s=10_000, frame_burst=10_000))
    clinic = await make_clinic(server.app)
    channel = ChannelName(f"org:{clinic.org_id}")
    bystander = await connect(server.url, server.token(Role.ADMIN, clinic.org_id))
    assert (await bystander.call("subscribe", channel=channel))["op"] == "ok"

    async def publish_during() -> None:
        for i in range(100):
            await server.events.publish(channel, "dashboard.updated", {"i": i})
            await asyncio.sleep(0.01)

    publishing = asyncio.create_task(publish_during())
    result = await fuzz(server.url, frames=3000, connections=10, seed=7)
    await publishing
    assert result["ok"], result
    assert result["unanswered"] == 0 and result["undocumented_closes"] == {}
    assert [(await bystander.recv())["data"]["i"] for _ in range(100)] == list(range(100))
    assert (await bystander.call("ping"))["op"] == "ok"
