"""Issue 15, hole 9 (holds): anonymous bookers on a public calendar.

The attack: one anonymous WebSocket sends `hold` after `hold`, each without a `hold_token`, so
each is a "new booker", and empties the calendar in a second (60 holds). Now an anonymous
connection keeps at most 5 live holds, an address takes at most 20 anonymous holds a minute
(WebSocket and REST together) and a calendar at most 30 anonymous holds a minute from all
addresses; past a limit the answer is an `error` frame (or 429) `rate_limited` with a retry hint.
Different client addresses come from binding the test's sockets to 127.0.0.x.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.live.quota import PER_ADDRESS, PER_CALENDAR, PER_CONNECTION
from tests.integration.live.conftest import Clinic, clinic, day_at, z  # noqa: F401

Client = TestClient[web.Request, web.Application]


def _starts() -> itertools.chain[str]:
    """Free 60-minute slots of the clinic's calendar (08:00-20:00 UTC every day), days ahead."""
    return itertools.chain.from_iterable(
        (z(day_at(day, hour)) for hour in range(8, 20)) for day in range(2, 30)
    )


@contextlib.asynccontextmanager
async def _from_address(address: str) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def _ws_hold(ws: Any, frame_id: int, calendar_id: str, start: str) -> dict[str, Any]:
    await ws.send_json({"id": frame_id, "op": "hold", "calendar_id": calendar_id, "start": start})
    reply: dict[str, Any] = await ws.receive_json(timeout=30)
    assert reply["id"] == frame_id, reply
    return reply


def _assert_limited(reply: dict[str, Any]) -> None:
    assert reply["op"] == "error", reply
    assert reply["error"]["code"] == "rate_limited", reply
    assert reply["error"]["details"]["retry_after_ms"] > 0


async def test_one_anonymous_socket_cannot_take_the_calendar(clinic: Clinic) -> None:  # noqa: F811
    starts = _starts()
    ws = await clinic.client.ws_connect("/v1/ws")
    try:
        granted = []
        for n in range(PER_CONNECTION):
            reply = await _ws_hold(ws, n, clinic.calendar_id, next(starts))
            assert reply["op"] == "ok", reply
            granted.append(reply["result"])
        # The attack: keep asking, as a "new booker" every time.
        for n in range(10):
            _assert_limited(await _ws_hold(ws, 100 + n, clinic.calendar_id, next(starts)))
        # Releasing one makes room for one again.
        first = granted[0]
        await ws.send_json(
            {"id": 200, "op": "release", "hold_id": first["id"], "hold_token": first["hold_token"]}
        )
        assert (await ws.receive_json(timeout=30))["op"] == "ok"
        assert (await _ws_hold(ws, 201, clinic.calendar_id, next(starts)))["op"] == "ok"
        _assert_limited(await _ws_hold(ws, 202, clinic.calendar_id, next(starts)))
    finally:
        await ws.close()
    state = await clinic.shard_state()
    assert len(state["holds"]) <= PER_CONNECTION, state["holds"]


async def test_new_sockets_from_one_address_share_its_budget(clinic: Clinic) -> None:  # noqa: F811
    starts = _starts()
    frame = itertools.count()
    taken = 0
    while taken < PER_ADDRESS.limit:
        ws = await clinic.client.ws_connect("/v1/ws")
        try:
            for _ in range(min(PER_CONNECTION, PER_ADDRESS.limit - taken)):
                reply = await _ws_hold(ws, next(frame), clinic.calendar_id, next(starts))
                assert reply["op"] == "ok", reply
                taken += 1
        finally:
            await ws.close()
    ws = await clinic.client.ws_connect("/v1/ws")
    try:
        _assert_limited(await _ws_hold(ws, next(frame), clinic.calendar_id, next(starts)))
    finally:
        await ws.close()
    # REST counts against the same address.
    response = await clinic.client.post(
        "/v1/public/holds", json={"calendar_id": clinic.calendar_id, "start": next(starts)}
    )
    assert response.status == 429
    body = await response.json()
    assert body["error"]["code"] == "rate_limited" and int(response.headers["Retry-After"]) >= 1
    # Another address is not punished for this one.
    async with _from_address("127.0.0.2") as other:
        response = await other.post(
            clinic.client.make_url("/v1/public/holds"),
            json={"calendar_id": clinic.calendar_id, "start": next(starts)},
        )
        assert response.status == 201, await response.text()


async def test_many_addresses_together_cannot_drain_one_calendar(
    clinic: Clinic,  # noqa: F811
) -> None:
    starts = _starts()
    url = clinic.client.make_url("/v1/public/holds")
    granted = 0
    refused: dict[str, Any] | None = None
    for address in (f"127.0.0.{n}" for n in range(2, 10)):
        async with _from_address(address) as session:
            for _ in range(PER_ADDRESS.limit):
                response = await session.post(
                    url, json={"calendar_id": clinic.calendar_id, "start": next(starts)}
                )
                if response.status == 429:
                    refused = await response.json()
                    break
                assert response.status == 201, await response.text()
                granted += 1
        if refused is not None:
            break
    assert granted == PER_CALENDAR.limit
    assert refused is not None and refused["error"]["code"] == "rate_limited"
    assert "calendar" in refused["error"]["message"]
