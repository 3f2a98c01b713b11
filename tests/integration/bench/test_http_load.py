"""The bench's keep-alive HTTP client against a real aiohttp server."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from bench.http_load import HttpError, LoadClient


async def _app_server(aiohttp_server: AiohttpServer) -> tuple[TestServer, set[Any]]:
    peers: set[Any] = set()

    async def echo(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername") if request.transport else None)
        body = await request.json() if request.can_read_body else None
        return web.json_response(
            {"method": request.method, "auth": request.headers.get("Authorization"), "body": body},
            status=201,
        )

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def closing(request: web.Request) -> web.Response:
        return web.Response(status=200, text="bye", headers={"Connection": "close"})

    async def streamed(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(b"part")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/echo", echo)
    app.router.add_delete("/empty", empty)
    app.router.add_get("/closing", closing)
    app.router.add_get("/streamed", streamed)
    server = await aiohttp_server(app)
    return server, peers


async def test_requests_reuse_one_connection_and_read_every_answer(
    aiohttp_server: AiohttpServer,
) -> None:
    server, peers = await _app_server(aiohttp_server)
    client = LoadClient(str(server.make_url("/")).rstrip("/"))
    try:
        for n in range(5):
            status, body = await client.request("POST", "/echo", {"Authorization": "B t"}, {"n": n})
            assert status == 201
            assert orjson.loads(body) == {"method": "POST", "auth": "B t", "body": {"n": n}}
            assert await client.request("DELETE", "/empty", {}) == (204, b"")
        assert len(peers) == 1  # keep-alive: one connection for all ten requests
    finally:
        await client.close()


async def test_a_closing_answer_drops_its_connection(aiohttp_server: AiohttpServer) -> None:
    server, _ = await _app_server(aiohttp_server)
    client = LoadClient(str(server.make_url("/")).rstrip("/"))
    try:
        assert await client.request("GET", "/closing", {}) == (200, b"bye")
        assert await client.request("GET", "/closing", {}) == (200, b"bye")
    finally:
        await client.close()


async def test_a_chunked_answer_is_an_error_not_a_guess(aiohttp_server: AiohttpServer) -> None:
    server, _ = await _app_server(aiohttp_server)
    client = LoadClient(str(server.make_url("/")).rstrip("/"))
    try:
        with pytest.raises(HttpError):
            await client.request("GET", "/streamed", {})
    finally:
        await client.close()
