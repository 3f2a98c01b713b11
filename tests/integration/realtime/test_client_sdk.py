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


# --- issue 21, item 5: fixes found by trying the SDK -------------------------------------------


async def test_close_sends_normal_closure(server: Server, clinic: Clinic) -> None:
    client = CadenceClient(server.url, server.token(Role.ADMIN, clinic.org_id))
    await client.connect()
    ws = client._ws
    assert ws is not None
    await client.close()
    sent = ws.protocol.close_sent
    assert sent is not None and sent.code == 1000, sent
    assert client.state == "closed"


async def test_a_token_callback_that_raises_is_an_error_not_a_timeout(server: Server) -> None:
    async def broken() -> str:
        raise RuntimeError("identity provider down")

    client = CadenceClient(server.url, broken)
    try:
        await client.connect(timeout_s=30)
    except ClientError as exc:
        assert exc.code == "token_failed" and "identity provider down" in exc.message
        assert isinstance(exc.__cause__, RuntimeError)
    else:
        raise AssertionError("connect() succeeded without a token")
    finally:
        await client.close()
    assert client.closed.is_set() and isinstance(client.exception, RuntimeError)


async def test_connection_state_callbacks_follow_a_drop_and_a_close(
    server: Server, clinic: Clinic
) -> None:
    states: list[str] = []
    reconnected = asyncio.Event()

    def on_state(state: str) -> None:
        states.append(state)
        if state == "connected" and "reconnecting" in states:
            reconnected.set()

    client = CadenceClient(
        server.url, server.token(Role.ADMIN, clinic.org_id), backoff_min_s=0.1, on_state=on_state
    )
    async with client:
        assert client.state == "connected"
        await server.gateway.close_all()
        await asyncio.wait_for(reconnected.wait(), 10)
    assert states == ["connecting", "connected", "reconnecting", "connected", "closed"], states


async def test_presence_list_counts_the_viewers_of_each_channel(
    server: Server, clinic: Clinic
) -> None:
    viewed = f"calendar:{clinic.public_calendar}"
    unviewed = f"calendar:{clinic.private_calendar}"
    token = server.token(Role.ADMIN, clinic.org_id)
    async with CadenceClient(server.url, token) as viewer, CadenceClient(server.url, token) as desk:
        await viewer.subscribe(viewed)
        answers = await desk.presence_list([viewed, unviewed])
    assert answers[viewed]["viewers"] == 1, answers
    assert answers[unviewed]["viewers"] == 0, answers


async def test_history_returns_the_events_after_a_position(server: Server, clinic: Clinic) -> None:
    channel = ChannelName(f"org:{clinic.org_id}")
    token = server.token(Role.ADMIN, clinic.org_id)
    async with CadenceClient(server.url, token) as client:
        sub = await client.subscribe(channel)
        events = aiter(sub)
        await server.events.publish(channel, "dashboard.updated", {"i": 0})
        first = await _next_event(events)
        for i in range(1, 4):
            await server.events.publish(channel, "dashboard.updated", {"i": i})
        for _ in range(3):
            await _next_event(events)
    async with CadenceClient(server.url, token) as reader:
        found = await reader.history(channel, first.position)
        assert [e.data["i"] for e in found] == [1, 2, 3]
        assert channel not in reader._subs  # nothing kept subscribed
        assert await reader.history(channel, found[-1].position) == []


async def test_a_frame_that_breaks_its_schema_gets_the_error_frame(
    server: Server, clinic: Clinic
) -> None:
    async with CadenceClient(server.url, server.token(Role.ADMIN, clinic.org_id)) as client:
        try:
            await client.call("hold", calendar_id=7, start="2030-01-01T10:00:00Z")
        except ClientError as exc:
            assert exc.code == "validation_failed"
            assert "calendar_id" in exc.details["fields"], exc.details
        else:
            raise AssertionError("a hold with a numeric calendar_id was accepted")
        try:
            await client.call("subscribe")
        except ClientError as exc:
            assert exc.code == "bad_request" and "channel" in exc.details["fields"]
        else:
            raise AssertionError("a subscribe without a channel was accepted")
        assert (await client.call("ping"))["t"] > 0  # the connection goes on
