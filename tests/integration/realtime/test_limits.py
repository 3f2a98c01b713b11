"""Backpressure and inbound limits: 4008, 1009, 4029, error replies, idle close."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from realtime import Limits
from storage.types import ChannelName, Role
from tests.integration.realtime.conftest import Clinic, Connect, Server, ServerFactory, make_clinic


async def test_a_client_that_stops_reading_is_closed_with_4008(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server(limits=Limits(queue_bytes=64 * 1024, close_timeout_s=10))
    clinic = await make_clinic(server.app)
    channel = ChannelName(f"org:{clinic.org_id}")
    token = server.token(Role.ADMIN, clinic.org_id)
    # A client with tiny buffers that reads nothing while events pile up.
    slow = await connect(server.url, token, max_queue=1)
    healthy = await connect(server.url, token)
    for peer in (slow, healthy):
        assert (await peer.call("subscribe", channel=channel))["op"] == "ok"

    async def read_all() -> list[int]:
        return [(await healthy.recv(within=15))["data"]["i"] for _ in range(600)]

    reader = asyncio.create_task(read_all())
    blob = "x" * 16_000
    for i in range(600):  # ~10 MB: more than socket buffers and the 64 KiB queue
        await server.events.publish(channel, "dashboard.updated", {"i": i, "blob": blob})
    # The slow client, reading at last, finds the close frame after what was buffered.
    assert await slow.closed_with(within=15) == 4008
    # The one that kept reading got everything, in order.
    assert await reader == list(range(600))


async def test_text_frame_over_64_kib_closes_with_1009(server: Server, connect: Connect) -> None:
    peer = await connect(server.url)
    await peer.ws.send(orjson.dumps({"op": "ping", "pad": "x" * 70_000}).decode())
    assert await peer.closed_with() == 1009


async def test_binary_frame_over_512_kib_closes_with_1009(server: Server, connect: Connect) -> None:
    peer = await connect(server.url)
    await peer.ws.send(b"\x00" * (600 * 1024))
    assert await peer.closed_with() == 1009


async def test_too_many_frames_close_with_4029(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server(limits=Limits(frames_per_s=20, frame_burst=20))
    peer = await connect(server.url)
    for _ in range(60):
        await peer.ws.send('{"op":"ping"}')
    assert await peer.closed_with() == 4029


async def test_every_malformed_frame_gets_an_error_and_the_connection_stays(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    peer = await connect(server.url)
    bad: list[str | bytes] = [
        "not json",
        "[1, 2]",
        '{"no": "op"}',
        '{"op": 5}',
        '{"id": 1, "op": "teleport"}',
        '{"id": 2, "op": "subscribe", "channel": "calendar:nope"}',
        '{"id": 3, "op": "subscribe", "channel": "org:' + str(clinic.org_id) + '", "since": 7}',
        '{"id": 4, "op": "unsubscribe", "channel": "calendar:' + str(clinic.public_calendar) + '"}',
        b"\xff\xfe",
        b'\x00\x00\x00\x05{"op"',
        b"\x00\x00\x00\x0f" + b'{"op":"nosuch"}' + b"jpeg",
        '{"id": 5, "op": "auth"}',
    ]
    codes = []
    for frame in bad:
        await peer.ws.send(frame)
        reply = await peer.recv()
        assert reply["op"] == "error", frame
        codes.append(reply["error"]["code"])
    assert codes == [
        "bad_request", "bad_request", "bad_request", "bad_request", "unknown_op", "bad_request",
        "bad_request", "not_subscribed", "bad_request", "bad_request", "unknown_op", "bad_request",
    ]  # fmt: skip
    assert (await peer.call("ping"))["op"] == "ok"


async def test_double_subscribe_is_refused(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    peer = await connect(server.url)
    channel = f"calendar:{clinic.public_calendar}"
    assert (await peer.call("subscribe", channel=channel))["op"] == "ok"
    assert (await peer.call("subscribe", channel=channel))["error"]["code"] == "already_subscribed"


async def test_idle_connection_without_subscriptions_is_closed(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server(limits=Limits(idle_s=0.3))
    peer = await connect(server.url)
    assert await peer.closed_with(within=3) == 1001


async def test_a_peer_that_never_answers_heartbeats_is_dropped(start_server: ServerFactory) -> None:
    server = await start_server(limits=Limits(heartbeat_s=0.3))
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.url, autoping=False)
        kinds = []
        async with asyncio.timeout(5):
            while not ws.closed:
                msg = await ws.receive()
                kinds.append(msg.type)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
        assert aiohttp.WSMsgType.PING in kinds
        assert kinds[-1] in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
