"""Issue 15, hole 7: input that used to answer 500.

- A NUL character (`\\u0000`) in any JSON string or key: PostgreSQL's text cannot hold it, so it
  failed wherever the value reached a query. Every endpoint that takes a JSON body (enumerated
  from the published OpenAPI document, so a new endpoint is covered without touching this file),
  every query parameter and every WebSocket frame now refuses it up front: 422 with the error
  envelope, or an `error` frame.
- A malformed `Origin` header on `/v1/ws`: 403 with the envelope.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from storage.types import Role
from tests.integration.identity._world import World, build_world

Client = TestClient[web.Request, web.Application]
NUL_BODIES: list[Any] = [
    {"name": "a\x00b", "email": "x@example.test", "password": "p" * 12},
    {"email": "x\x00@example.test", "password": "correct horse battery"},
    {"note\x00": "key with a NUL"},
    {"events": [{"id": str(uuid.uuid4()), "payload": {"deep": ["ok", "n\x00ul"]}}]},
]


def _assert_envelope(status: int, body: dict[str, Any], expected: int, code: str) -> None:
    assert status == expected, body
    error = body["error"]
    assert error["code"] == code and error["message"] and "request_id" in error


def _headers(world: World, roles: list[str] | None) -> dict[str, str]:
    if not roles:
        return {}
    role = Role(roles[0])
    member = world.superadmin if role is Role.SUPERADMIN else world.a.members[role]
    return world.headers(member)


async def test_every_json_body_with_a_nul_is_refused_before_its_handler(
    client: Client,  # noqa: F811
) -> None:
    world = await build_world(client.app)
    document = await (await client.get("/v1/openapi.json")).json()
    checked = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"post", "put", "patch", "delete"}:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            url = path
            for part in path.split("/"):
                if part.startswith("{"):
                    url = url.replace(part, str(uuid.uuid4()))
            for body in NUL_BODIES:
                response = await client.request(
                    method.upper(), url, json=body,
                    headers=_headers(world, operation.get("x-roles")),
                )  # fmt: skip
                _assert_envelope(response.status, await response.json(), 422, "validation_failed")
            checked.append(f"{method.upper()} {path}")
    assert "POST /v1/auth/login" in checked
    assert len(checked) >= 21, checked


async def test_a_nul_in_a_query_parameter_is_refused(client: Client) -> None:  # noqa: F811
    world = await build_world(client.app)
    headers = world.headers(world.a.members[Role.ADMIN])
    for url in ("/v1/patients?q=a%00b", "/v1/patients?q%00=x", "/v1/appointments?status=%00"):
        response = await client.get(url, headers=headers)
        _assert_envelope(response.status, await response.json(), 422, "validation_failed")


async def test_an_escaped_backslash_before_u0000_is_ordinary_text(
    client: Client,  # noqa: F811
) -> None:
    # `"\\u0000"` in JSON is a backslash and five characters, not a NUL: not refused as one.
    response = await client.post(
        "/v1/auth/login",
        data=b'{"email": "nobody@example.test", "password": "\\\\u0000aaaaaaaaa"}',
        headers={"Content-Type": "application/json"},
    )
    _assert_envelope(response.status, await response.json(), 401, "unauthorized")


async def test_a_websocket_frame_with_a_nul_gets_an_error_frame(
    client: Client,  # noqa: F811
) -> None:
    world = await build_world(client.app)
    token = world.token(world.a.members[Role.ADMIN])
    ws = await client.ws_connect("/v1/ws", headers={"Authorization": f"Bearer {token}"})
    try:
        frames = [
            ({"id": 1, "op": "subscribe", "channel": "calendar:\x00"}, "channel"),
            (
                {"id": 2, "op": "hold", "calendar_id": str(uuid.uuid4()), "start": "2030\x00"},
                "start",
            ),
            ({"id": 3, "op": "ping", "x\x00": 1}, "x\\u0000"),
        ]
        for frame, field in frames:
            await ws.send_json(frame)
            reply = await ws.receive_json(timeout=10)
            assert reply["op"] == "error", reply
            assert reply["error"]["code"] == "validation_failed", reply
            # The field REST names for the same value (server/http.py, same function).
            assert list(reply["error"]["details"]["fields"]) == [field], reply
        await ws.send_json({"id": 4, "op": "ping"})  # the connection lives on
        assert (await ws.receive_json(timeout=10))["op"] == "ok"
    finally:
        await ws.close()


@pytest.mark.parametrize(
    "origin", ["http://[x", "http://[::1", "https://a:99999", "http://exa mple", "::::"]
)
async def test_a_malformed_origin_is_refused_with_the_envelope(
    client: Client,  # noqa: F811
    origin: str,
) -> None:
    response = await client.get(
        "/v1/ws",
        headers={
            "Origin": origin,
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    _assert_envelope(response.status, await response.json(), 403, "forbidden")
    # And the upgrade path of a real client: refused, not failed.
    with pytest.raises(Exception) as refused:  # noqa: B017 - aiohttp's handshake error
        await client.ws_connect("/v1/ws", headers={"Origin": origin})
    assert getattr(refused.value, "status", None) == 403


async def test_no_websocket_message_type_is_left_unanswered(
    client: Client,  # noqa: F811
) -> None:
    ws = await client.ws_connect("/v1/ws")
    try:
        await ws.send_str('{"op": "auth", "token": "\\u0000"}')
        reply = await ws.receive(timeout=10)
        assert reply.type is WSMsgType.TEXT and '"error"' in reply.data
    finally:
        await ws.close()
