"""A saturated renderer answers 503 with Retry-After at once (nothing queued, nothing
recorded), and the same request succeeds once the renderer has room."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from actors.documents import RendererOptions
from server.app import create_app
from server.resources import DB_KEY
from server.services import DOCUMENTS_KEY, RENDERER_OPTIONS_KEY
from server.settings import Settings
from tests.integration.records.documents.conftest import World
from tests.integration.records.documents.test_renderer import _long_handout


@pytest.fixture
def app(settings: Settings) -> web.Application:
    """The server with one render slot."""
    app = create_app(settings)
    app[RENDERER_OPTIONS_KEY] = RendererOptions(workers=1, max_in_flight=1)
    return app


async def test_a_full_renderer_answers_503_with_retry_after(world: World) -> None:
    renderer = world.client.app[DOCUMENTS_KEY]
    # The one slot: taken by a long document (its worker process also starts for it).
    occupied = asyncio.create_task(renderer.render(_long_handout()))
    await asyncio.sleep(0)
    assert renderer.in_flight == 1
    path = f"/v1/session-completions/{world.completions[-1]}/document"
    status, answer, response = await world.get(path, "admin")
    assert status == 503, answer
    assert answer["error"]["code"] == "unavailable"
    assert int(response.headers["Retry-After"]) >= 1
    assert answer["error"]["details"]["retry_after_s"] == int(response.headers["Retry-After"])
    assert not occupied.done()  # refused while the slot was taken, not after waiting for it
    async with world.client.app[DB_KEY].platform() as conn:
        rows = await conn.fetchval(
            "SELECT count(*) FROM documents WHERE organization_id = $1", world.clinic.org_id
        )
    assert rows == 0
    await occupied
    status, answer, _ = await world.get(path, "admin")
    assert status == 200, answer
