"""Authentication at the handshake: header, query parameter, `auth` frame; expiry; Origin."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import websockets
from websockets.typing import Origin

from realtime import Limits
from storage.types import Role
from tests.integration.realtime.conftest import Clinic, Connect, Server, ServerFactory


async def test_header_token_authenticates(server: Server, clinic: Clinic, connect: Connect) -> None:
    peer = await connect(server.url, server.token(Role.ADMIN, clinic.org_id))
    assert (await peer.call("subscribe", channel=f"org:{clinic.org_id}"))["op"] == "ok"


async def test_query_parameter_token_authenticates(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    token = server.token(Role.RECEPTIONIST, clinic.org_id)
    peer = await connect(f"{server.url}?access_token={token}")
    assert (await peer.call("subscribe", channel=f"org:{clinic.org_id}"))["op"] == "ok"


async def test_auth_frame_upgrades_an_anonymous_connection(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    peer = await connect(server.url)
    refused = await peer.call("subscribe", channel=f"org:{clinic.org_id}")
    assert refused["error"]["code"] == "forbidden"
    reply = await peer.call("auth", token=server.token(Role.SPECIALIST, clinic.org_id))
    assert reply["result"]["role"] == "specialist"
    assert (await peer.call("subscribe", channel=f"org:{clinic.org_id}"))["op"] == "ok"


async def test_anonymous_may_only_subscribe_public_calendars(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    peer = await connect(server.url)
    ok = await peer.call("subscribe", channel=f"calendar:{clinic.public_calendar}")
    assert ok["op"] == "ok"
    for name in (
        f"calendar:{clinic.private_calendar}",
        f"patient:{clinic.patient_id}",
        f"org:{clinic.org_id}",
    ):
        reply = await peer.call("subscribe", channel=name)
        assert reply["error"]["code"] == "forbidden", name


async def test_auth_frame_after_the_window_is_refused(
    start_server: ServerFactory, clinic: Clinic, connect: Connect
) -> None:
    server = await start_server(limits=Limits(auth_window_s=0.2))
    peer = await connect(server.url)
    await asyncio.sleep(0.4)
    reply = await peer.call("auth", token=server.token(Role.ADMIN, clinic.org_id))
    assert reply["error"]["code"] == "auth_window_closed"


async def test_invalid_query_token_closes_with_4001(server: Server, connect: Connect) -> None:
    peer = await connect(f"{server.url}?access_token=not-a-jwt")
    assert await peer.closed_with() == 4001


async def test_invalid_auth_frame_closes_with_4001(server: Server, connect: Connect) -> None:
    peer = await connect(server.url)
    await peer.send({"op": "auth", "token": "forged.token.here"})
    assert await peer.closed_with() == 4001


async def test_invalid_header_token_closes_with_4001(server: Server, connect: Connect) -> None:
    """Browsers cannot read the status of a refused upgrade; they can read a close code."""
    for header in ("Bearer x", "Basic dXNlcjpwYXNz"):
        ws = await websockets.connect(server.url, additional_headers={"Authorization": header})
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001, header


async def test_token_expiry_closes_the_connection_with_4001(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    peer = await connect(server.url, server.token(Role.ADMIN, clinic.org_id, ttl_s=1))
    assert (await peer.call("subscribe", channel=f"org:{clinic.org_id}"))["op"] == "ok"
    assert await peer.closed_with(within=4) == 4001


async def test_refreshing_the_token_postpones_expiry(
    server: Server, clinic: Clinic, connect: Connect
) -> None:
    user = uuid.uuid4()
    peer = await connect(server.url, server.token(Role.ADMIN, clinic.org_id, user_id=user, ttl_s=1))
    # Same org and role but another user is another identity: refused.
    stranger = server.token(Role.ADMIN, clinic.org_id, ttl_s=60)
    assert (await peer.call("auth", token=stranger))["error"]["code"] == "forbidden"
    fresh = server.token(Role.ADMIN, clinic.org_id, user_id=user, ttl_s=60)
    assert (await peer.call("auth", token=fresh))["op"] == "ok"
    await asyncio.sleep(1.5)
    assert (await peer.call("ping"))["op"] == "ok"


async def test_foreign_origin_is_refused(server: Server) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(server.url, origin=Origin("https://evil.example"))
    assert refused.value.response.status_code == 403


async def test_allowlisted_origin_is_accepted(
    start_server: ServerFactory, connect: Connect
) -> None:
    server = await start_server(ws_origins=("https://clinic.example",))
    peer = await connect(server.url, origin="https://clinic.example")
    assert (await peer.call("ping"))["op"] == "ok"
