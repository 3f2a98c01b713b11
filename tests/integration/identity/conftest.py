from __future__ import annotations

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.integration.identity._world import World, build_world


@pytest_asyncio.fixture
async def world(client: TestClient[web.Request, web.Application]) -> World:
    return await build_world(client.app)
