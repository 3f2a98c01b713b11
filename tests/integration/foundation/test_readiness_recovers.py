"""Readiness follows its dependencies: 503 naming the dead one within 2 s, 200 once it is back,
without restarting the server. The dependency is taken away through a TCP proxy."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.settings import Settings
from tests.support.proxy import CuttableProxy

Client = TestClient[web.Request, web.Application]


async def _proxied(url: str) -> CuttableProxy:
    parts = urlsplit(url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 0)
    await proxy.start()
    return proxy


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit(":", 1)[0] if parts.port else parts.netloc
    return parts._replace(netloc=f"{netloc}:{port}").geturl()


@pytest.fixture(params=["redis", "postgres"])
async def cut_case(
    request: pytest.FixtureRequest, settings: Settings, aiohttp_client: AiohttpClient
) -> AsyncIterator[tuple[str, CuttableProxy, Client]]:
    which = request.param
    url = settings.redis_url if which == "redis" else settings.database_url
    proxy = await _proxied(url)
    via = _via(url, proxy.port)
    if which == "redis":
        patched = dataclasses.replace(settings, redis_url=via)
    else:
        patched = dataclasses.replace(settings, database_url=via)
    client = await aiohttp_client(create_app(patched))
    yield which, proxy, client
    await proxy.cut()


async def _status(client: Client) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health/ready")
    return response.status, await response.json()


async def test_ready_names_the_failed_dependency_and_recovers(
    cut_case: tuple[str, CuttableProxy, Client],
) -> None:
    which, proxy, client = cut_case
    assert (await _status(client))[0] == 200

    await proxy.cut()
    started = time.monotonic()
    status, body = await _status(client)
    assert time.monotonic() - started < 2.0
    assert status == 503
    assert body["error"]["details"]["failed"] == [which]
    assert which in body["error"]["message"]

    await proxy.restore()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (await _status(client))[0] == 200:
            break
        await asyncio.sleep(0.2)
    assert (await _status(client))[0] == 200
