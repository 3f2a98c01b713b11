"""The Python SDK against the real gateway: callbacks, iteration, reconnect and resume, Resync."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import redis.asyncio as aioredis

from realtime.client import CadenceClient, ClientError, Event, Resync
from server.resources import KEYS_KEY
from storage.types import ChannelName, Role
from tests.integration.realtime.conftest import Clinic, Server


async def _next(
    iterator: AsyncIterator[Event | Resync],
    timeout: float = 5.0,  # noqa: ASYNC109
) -> Event | Resync:
    async with asyncio.timeout(timeout):
        return await anext(iterator)


async def _next_event(iterator: AsyncIterator[Event | Resync]) -> Event:
    item = await _next(iterator)
    assert isinstance(item, Event), item
    return item


async def test_callbacks_receive_events_in_order(server: Server, clinic: Clinic) -> None:
    channel = ChannelName(f"org:{clinic.org_id}")
    got: list[int] = []
    done = asyncio.Event()

    def on_event(event: Event) -> None:
        got.append(event.data["i"])
        if len(got) == 3:
            done.set()

    async with CadenceClient(server.url, server.token(Role.ADMIN, clinic.org_id)) as client:
        await client.subscribe(channel, on_event=on_event)
        for i in range(3):
            await server.events.publish(channel, "dashboard.updated", {"i": i})
        await asyncio.wait_for(done.wait(), 5)
    assert got == [0, 1, 2]


async def test_the_client_resumes_after_a_drop_without_loss_or_duplicate(
    server: Server, clinic: Clinic
) -> None:
    channel = ChannelName(f"org:{clinic.org_id}")
    client = CadenceClient(server.url, server.token(Role.ADMIN, clinic.org_id), backoff_min_s=0.2)
    async with client:
        sub = await client.subscribe(channel)
        events = aiter(sub)
        await server.events.publish(channel, "dashboard.updated", {"i": 0})
        assert (await _next_event(events)).data["i"] == 0
        await server.gateway.close_all()  # every socket of the server goes away
        for i in range(1, 4):  # published while the client is away
            await server.events.publish(channel, "dashboard.updated", {"i": i})
        assert [(await _next_event(events)).data["i"] for _ in range(3)] == [1, 2, 3]
        await server.events.publish(channel, "dashboard.updated", {"i": 4})
        assert (await _next_event(events)).data["i"] == 4
        assert client.connections == 2


async def test_lost_history_is_surfaced_as_a_resync(server: Server, clinic: Clinic) -> None:
    channel = ChannelName(f"org:{clinic.org_id}")
    async with CadenceClient(
        server.url, server.token(Role.ADMIN, clinic.org_id), backoff_min_s=0.3
    ) as client:
        sub = await client.subscribe(channel)
        items = aiter(sub)
        await server.events.publish(channel, "dashboard.updated", {"i": 0})
        assert isinstance(await _next(items), Event)
        await server.gateway.close_all()
        redis = aioredis.Redis.from_url(server.settings.redis_url)
        try:
            await redis.delete(server.app[KEYS_KEY].stream(channel))
        finally:
            await redis.aclose()
        after = await server.events.publish(channel, "dashboard.updated", {"i": 1})
        item = await _next(items)
        assert isinstance(item, Resync) and item.position.epoch == after.epoch
        await server.events.publish(channel, "dashboard.updated", {"i": 2})
        assert (await _next_event(items)).data["i"] == 2


async def test_an_invalid_token_stops_the_client(server: Server) -> None:
    client = CadenceClient(server.url + "?access_token=bad")
    try:
        await client.connect()
        await asyncio.wait_for(client.closed.wait(), 5)
    except ClientError:
        pass
    assert client.closed.is_set() and client.error is not None and "4001" in client.error
    await client.close()


async def test_refused_subscriptions_raise(server: Server, clinic: Clinic) -> None:
    async with CadenceClient(server.url) as client:
        try:
            await client.subscribe(f"org:{clinic.org_id}")
        except ClientError as exc:
            assert exc.code == "forbidden"
        else:
            raise AssertionError("anonymous subscribe to org: was accepted")
