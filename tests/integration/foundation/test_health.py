from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]


async def test_ready_reports_every_dependency_ok(client: Client) -> None:
    response = await client.get("/health/ready")
    assert response.status == 200
    body = await response.json()
    assert body["checks"] == {"postgres": "ok", "redis": "ok", "ray": "ok"}


async def test_liveness_needs_no_dependency(client: Client) -> None:
    response = await client.get("/health")
    assert response.status == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
