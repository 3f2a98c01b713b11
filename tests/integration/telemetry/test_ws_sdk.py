"""Telemetry over the WebSocket with the Python SDK: kill -9 of the ingest actor and dropped
connections while many clients stream; every acknowledged event is stored exactly once and the
unacknowledged ones arrive after the SDK resends them."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest_asyncio
from aiohttp.test_utils import TestServer

from actors.telemetry._commands import TelemetryCommands
from realtime.client import CadenceClient
from server import tokens
from server.app import create_app
from server.services import TELEMETRY_KEY
from server.settings import Settings
from storage.types import Role
from tests.support.tenants import make_org, make_patient

CLIENTS = 30
BATCHES = 8
EVENTS = 25


@pytest_asyncio.fixture
async def server(settings: Settings) -> AsyncIterator[TestServer]:
    test_server = TestServer(create_app(settings))
    await test_server.start_server()
    yield test_server
    await test_server.close()


def batch(exercise: str) -> list[dict[str, object]]:
    now = int(datetime.now(UTC).timestamp() * 1000)
    return [
        {"id": str(uuid.uuid4()), "type": "video.watch", "t": now,
         "data": {"exercise_id": exercise, "media_key": "v/1.mp4", "action": "progress",
                  "position_s": i}}
        for i in range(EVENTS)
    ]  # fmt: skip


async def test_kill_9_and_dropped_sockets_lose_no_acknowledged_event(
    server: TestServer, settings: Settings
) -> None:
    org = await make_org(settings.database_url)
    patients = [await make_patient(settings.database_url, org) for _ in range(3)]
    url = str(server.make_url("/v1/ws")).replace("http://", "ws://", 1)
    exercise = str(uuid.uuid4())
    acknowledged: list[str] = []
    sent: list[str] = []
    clients = [
        CadenceClient(
            url,
            tokens.issue(settings.secret, role=Role.PATIENT, org_id=org,
                         patient_id=patients[i % 3]),
            backoff_min_s=0.05, call_timeout_s=15,
        )
        for i in range(CLIENTS)
    ]  # fmt: skip
    for client in clients:
        await client.connect()

    async def stream(client: CadenceClient) -> None:
        for _ in range(BATCHES):
            events = batch(exercise)
            sent.extend(str(e["id"]) for e in events)
            reply = await client.send_telemetry(events)
            assert reply["accepted"] == EVENTS and reply["rejected"] == []
            acknowledged.extend(str(e["id"]) for e in events)

    streams = [asyncio.create_task(stream(c)) for c in clients]
    commands: TelemetryCommands = server.app[TELEMETRY_KEY]
    await asyncio.sleep(0.5)
    pid = (await commands._pool.pids())[0]  # noqa: SLF001
    os.kill(pid, signal.SIGKILL)
    for client in clients[::5]:  # and some devices drop their connection mid-batch
        if client._ws is not None:  # noqa: SLF001
            client._ws.transport.abort()  # noqa: SLF001
    await asyncio.wait_for(asyncio.gather(*streams), 120)
    for client in clients:
        assert not client.unacknowledged
        await client.close()

    conn = await asyncpg.connect(settings.database_url)
    try:
        stored = [
            str(r["event_id"])
            for r in await conn.fetch(
                "SELECT event_id FROM telemetry_events WHERE organization_id = $1", org
            )
        ]
    finally:
        await conn.close()
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert set(stored) == set(acknowledged) == set(sent)
    assert len(stored) == CLIENTS * BATCHES * EVENTS
    assert any(c.connections > 1 for c in clients)  # the drops really forced reconnects
