"""Presence across processes, delivery across two servers sharing Redis, graceful shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from realtime._presence import Presence
from server.resources import KEYS_KEY, REDIS_KEY
from storage.types import ChannelName, Role
from tests.integration.realtime.conftest import Clinic, Connect, Server, ServerFactory


async def _eventually(check: Callable[[], Awaitable[bool]], within: float = 3.0) -> None:
    async with asyncio.timeout(within):
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def test_calendar_viewers_are_counted_across_servers(
    start_server: ServerFactory, server: Server, clinic: Clinic, connect: Connect
) -> None:
    other = await start_server()
    channel = f"calendar:{clinic.public_calendar}"
    viewers = [await connect(s.url) for s in (server, other, other)]
    for viewer in viewers:
        assert (await viewer.call("subscribe", channel=channel))["op"] == "ok"
    staff = await connect(server.url, server.token(Role.RECEPTIONIST, clinic.org_id))
    assert (await staff.call("presence", channel=channel))["result"]["viewers"] == 3
    await viewers[1].close()

    async def two() -> bool:
        viewers: int = (await staff.call("presence", channel=channel))["result"]["viewers"]
        return viewers == 2

    await _eventually(two)


async def test_staff_see_whether_the_patients_device_is_connected(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    channel = f"patient:{clinic.patient_id}"
    # The front desk: presence is not clinical, so a receptionist may see it (a specialist only
    # for patients they treat: tests/security/test_clinical_channels.py).
    staff = await connect(server.url, server.token(Role.RECEPTIONIST, clinic.org_id))
    assert (await staff.call("presence", channel=channel))["result"]["connected"] is False
    device = await connect(
        server.url, server.token(Role.PATIENT, clinic.org_id, patient_id=clinic.patient_id)
    )
    await device.call("ping")
    assert (await staff.call("presence", channel=channel))["result"]["connected"] is True
    await device.close()

    async def gone() -> bool:
        return (await staff.call("presence", channel=channel))["result"]["connected"] is False

    await _eventually(gone)
    owner = await connect(server.url, server.token(Role.OWNER, clinic.org_id))
    assert (await owner.call("presence", channel=channel))["error"]["code"] == "forbidden"


async def test_a_crashed_servers_presence_expires_on_its_own(
    server: Server, clinic: Clinic
) -> None:
    channel = ChannelName(f"calendar:{clinic.public_calendar}")
    redis, keys = server.app[REDIS_KEY], server.app[KEYS_KEY]
    crashed = Presence(redis, keys, "crashed-server", ttl_s=0.5)
    await crashed.enter(channel, "conn-1")  # ...and then the process dies: no leave, no refresh
    observer = Presence(redis, keys, "observer")
    assert await observer.count(channel) == 1
    await asyncio.sleep(0.7)
    assert await observer.count(channel) == 0


async def test_an_event_published_through_one_server_reaches_the_other(
    start_server: ServerFactory, server: Server, clinic: Clinic, connect: Connect
) -> None:
    other = await start_server()
    channel = ChannelName(f"org:{clinic.org_id}")
    token = server.token(Role.ADMIN, clinic.org_id)
    here, there = await connect(server.url, token), await connect(other.url, token)
    for peer in (here, there):
        assert (await peer.call("subscribe", channel=channel))["op"] == "ok"
    await other.events.publish(channel, "dashboard.updated", {"from": "other"})
    await server.events.publish(channel, "dashboard.updated", {"from": "server"})
    for peer in (here, there):
        assert [(await peer.recv())["data"]["from"] for _ in range(2)] == ["other", "server"]


async def test_shutdown_closes_every_socket_with_1001(
    start_server: ServerFactory, clinic: Clinic, connect: Connect
) -> None:
    server = await start_server()
    peers = [await connect(server.url) for _ in range(3)]
    await peers[0].call("subscribe", channel=f"calendar:{clinic.public_calendar}")
    closing = [asyncio.create_task(peer.closed_with(within=10)) for peer in peers]
    await server.close()
    assert [await c for c in closing] == [1001, 1001, 1001]
