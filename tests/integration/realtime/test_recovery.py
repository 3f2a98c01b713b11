"""Recovery (subscribe with since), joining live without gap or duplicate, and resync after the
gateway's pub/sub link was lost."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import redis.asyncio as aioredis

from server.resources import KEYS_KEY
from storage.events import StreamPosition, offset_seq
from storage.types import ChannelName, Role
from tests.integration.realtime.conftest import Clinic, Connect, Peer, Server


def _org(clinic: Clinic) -> ChannelName:
    return ChannelName(f"org:{clinic.org_id}")


async def _events(peer: Peer, n: int) -> list[dict[str, Any]]:
    return [await peer.recv() for _ in range(n)]


async def test_since_within_retention_recovers_exactly_the_missed_events(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    channel = _org(clinic)
    first = await server.events.publish(channel, "dashboard.updated", {"i": 0})
    for i in range(1, 6):
        await server.events.publish(channel, "dashboard.updated", {"i": i})
    peer = await connect(server.url, server.token(Role.ADMIN, clinic.org_id))
    reply = await peer.call("subscribe", channel=channel, since=first.as_dict())
    assert reply["result"]["recovered"] is True
    assert [e["data"]["i"] for e in await _events(peer, 5)] == [1, 2, 3, 4, 5]
    await server.events.publish(channel, "dashboard.updated", {"i": 6})
    assert (await peer.recv())["data"]["i"] == 6


async def test_another_epoch_is_not_recovered(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    channel = _org(clinic)
    top = await server.events.publish(channel, "dashboard.updated", {"i": 0})
    peer = await connect(server.url, server.token(Role.ADMIN, clinic.org_id))
    since = StreamPosition(top.offset, "some-older-epoch")
    reply = await peer.call("subscribe", channel=channel, since=since.as_dict())
    assert reply["result"]["recovered"] is False
    assert reply["result"]["position"] == top.as_dict()


async def test_position_trimmed_out_of_retention_is_not_recovered(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    channel = _org(clinic)
    first = await server.events.publish(channel, "dashboard.updated", {"i": 0})
    for i in range(1, 4):
        await server.events.publish(channel, "dashboard.updated", {"i": i})
    client: aioredis.Redis = aioredis.Redis.from_url(server.settings.redis_url)
    try:
        # What MAXLEN/MINID trimming does to an old position: its successors are gone.
        await client.xtrim(server.app[KEYS_KEY].stream(channel), maxlen=1, approximate=False)
    finally:
        await client.aclose()
    peer = await connect(server.url, server.token(Role.ADMIN, clinic.org_id))
    reply = await peer.call("subscribe", channel=channel, since=first.as_dict())
    assert reply["result"]["recovered"] is False


async def test_joining_while_events_flow_has_no_gap_and_no_duplicate(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    channel = _org(clinic)
    token = server.token(Role.ADMIN, clinic.org_id)
    start = await server.events.position(channel)
    stop = asyncio.Event()

    async def publish() -> int:
        n = 0
        while not stop.is_set():
            await server.events.publish(channel, "dashboard.updated", {"n": n})
            n += 1
            if n % 10 == 0:
                await asyncio.sleep(0)
        return n

    publisher = asyncio.create_task(publish())
    peers: list[tuple[Peer, str, bool]] = []
    for _ in range(8):
        await asyncio.sleep(random.uniform(0.01, 0.05))
        peer = await connect(server.url, token)
        since = start.as_dict() if len(peers) % 2 == 0 else None
        reply = await peer.call("subscribe", channel=channel, since=since)
        assert reply["op"] == "ok"
        peers.append((peer, reply["result"]["position"]["offset"], since is not None))
    await asyncio.sleep(0.1)
    stop.set()
    total = await publisher
    for peer, top, from_start in peers:
        first = 1 if from_start else offset_seq(top) + 1
        seqs = [offset_seq(e["offset"]) for e in await _events(peer, total - first + 1)]
        assert seqs == list(range(first, total + 1))


async def test_events_published_while_the_pubsub_link_is_down_are_resynced(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    channel = _org(clinic)
    peer = await connect(server.url, server.token(Role.ADMIN, clinic.org_id))
    assert (await peer.call("subscribe", channel=channel))["op"] == "ok"
    await server.events.publish(channel, "dashboard.updated", {"i": 0})
    assert (await peer.recv())["data"]["i"] == 0
    client: aioredis.Redis = aioredis.Redis.from_url(server.settings.redis_url)
    name = f"cadence-gateway-{server.gateway.server_id}"
    try:
        links = [c for c in await client.client_list(_type="pubsub") if c["name"] == name]
        assert len(links) == 1
        await client.client_kill_filter(_id=links[0]["id"])
        # Published before the gateway could notice and resubscribe: missed by pub/sub.
        for i in range(1, 6):
            await server.events.publish(channel, "dashboard.updated", {"i": i})
    finally:
        await client.aclose()
    assert [e["data"]["i"] for e in await _events(peer, 5)] == [1, 2, 3, 4, 5]
    await server.events.publish(channel, "dashboard.updated", {"i": 6})
    assert (await peer.recv())["data"]["i"] == 6


async def test_lost_history_of_a_live_channel_is_announced(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    channel = _org(clinic)
    peer = await connect(server.url, server.token(Role.ADMIN, clinic.org_id))
    assert (await peer.call("subscribe", channel=channel))["op"] == "ok"
    before = await server.events.publish(channel, "dashboard.updated", {"i": 0})
    assert (await peer.recv())["data"]["i"] == 0
    client: aioredis.Redis = aioredis.Redis.from_url(server.settings.redis_url)
    try:
        await client.delete(server.app[KEYS_KEY].stream(channel))  # e.g. a Redis without AOF
    finally:
        await client.aclose()
    after = await server.events.publish(channel, "dashboard.updated", {"i": 1})
    assert after.epoch != before.epoch
    notice = await peer.recv()
    assert notice["op"] == "recovery" and notice["recovered"] is False
    assert notice["channel"] == channel
    assert notice["position"]["epoch"] == after.epoch
    await server.events.publish(channel, "dashboard.updated", {"i": 2})
    assert (await peer.recv())["data"]["i"] == 2
