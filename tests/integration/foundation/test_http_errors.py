"""Every 4xx carries the error envelope; nothing logs a traceback for bad input."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.http import json_response, read_json
from server.openapi import document
from server.routing import ENDPOINTS_KEY, PUBLIC, Endpoint, mount
from server.settings import Settings
from storage.redis import create_redis

Client = TestClient[web.Request, web.Application]

SCHEMA = {
    "type": "object",
    "required": ["name", "size"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1}, "size": {"type": "integer"}},
}


async def echo(request: web.Request) -> web.Response:
    return json_response(await read_json(request, SCHEMA))


@pytest.fixture
async def echo_client(settings: Settings, aiohttp_client: AiohttpClient) -> Client:
    app = create_app(settings)
    mount(app, [Endpoint("POST", "/v1/test-echo", echo, PUBLIC, "echo", "test", SCHEMA)])
    return await aiohttp_client(app)


def _assert_envelope(body: dict[str, object], code: str) -> None:
    error = body["error"]
    assert isinstance(error, dict)
    assert error["code"] == code and error["message"] and error["request_id"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/v1/nothing-here", {}, 404, "not_found"),
        ("DELETE", "/health", {}, 405, "method_not_allowed"),
        ("POST", "/v1/test-echo", {"data": b"{not json"}, 400, "bad_request"),
        ("POST", "/v1/test-echo", {"data": b""}, 400, "bad_request"),
        ("POST", "/v1/test-echo", {"json": {"name": ""}}, 422, "validation_failed"),
        ("POST", "/v1/test-echo", {"data": b"x" * (2 * 1024 * 1024)}, 413, "payload_too_large"),
    ],
)
async def test_bad_requests_get_the_envelope(
    echo_client: Client,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    caplog.set_level(logging.INFO)
    response = await echo_client.request(method, path, **kwargs)
    assert response.status == status
    _assert_envelope(await response.json(), code)
    assert response.headers["X-Request-ID"]
    assert not [r for r in caplog.records if r.exc_info]


async def test_validation_details_name_each_field(echo_client: Client) -> None:
    response = await echo_client.post("/v1/test-echo", json={"name": "", "extra": 1})
    fields = (await response.json())["error"]["details"]["fields"]
    assert set(fields) >= {"name", "size", "$"}


async def test_valid_body_passes(echo_client: Client) -> None:
    response = await echo_client.post("/v1/test-echo", json={"name": "a", "size": 2})
    assert response.status == 200 and await response.json() == {"name": "a", "size": 2}


async def test_openapi_lists_exactly_the_routes_the_app_serves(client: Client) -> None:
    spec = await (await client.get("/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    served = set()
    for route in client.app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        served.add((route.method.lower(), path))
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert served == documented
    assert document(client.app[ENDPOINTS_KEY]) == spec


async def test_docs_page_is_served_without_a_cdn(client: Client) -> None:
    """The interactive page and every asset it loads come from this app; nothing names an
    outside host, and the page's CSP would refuse one."""
    response = await client.get("/docs")
    page = await response.text()
    assert "/v1/openapi.json" in page and "http:" not in page and "https:" not in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    loaded = [a for a in assets if a.startswith("/docs/assets/")]
    assert {a.rsplit("/", 1)[1] for a in loaded} == {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "docs.js",
    }
    assert all(a.startswith("/") and not a.startswith("//") for a in assets), assets
    for asset in loaded:
        got = await client.get(asset)
        assert got.status == 200, asset
        assert len(await got.read()) > 0
    init = await (await client.get("/docs/assets/docs.js")).text()
    assert "http" not in init and "validatorUrl: null" in init
    assert "SwaggerUIBundle" in await (await client.get("/docs/assets/swagger-ui-bundle.js")).text()
    assert (await client.get("/docs/assets/other.js")).status == 404


async def test_the_protocol_page_is_html_and_its_markdown_stays_available(client: Client) -> None:
    response = await client.get("/docs/protocol")
    assert response.content_type == "text/html"
    html = await response.text()
    assert "<h1>" in html and "<table>" in html and "WebSocket" in html
    raw = await client.get("/docs/protocol.md")
    assert raw.content_type == "text/markdown" and (await raw.text()).startswith("#")


async def test_the_frame_schemas_are_published(client: Client) -> None:
    schema = await (await client.get("/v1/protocol/frames.schema.json")).json()
    assert {"client_subscribe", "client_hold", "server_event", "ClientFrame"} <= set(
        schema["$defs"]
    )


async def test_metrics_are_prometheus_text(client: Client) -> None:
    await client.get("/health")
    text = await (await client.get("/metrics")).text()
    assert "cadence_http_requests_total" in text and "cadence_ws_connections" in text


def _late_wakeups(text: str) -> float:
    """Event-loop lag samples over 0.1 s in a /metrics text."""
    counts = dict(re.findall(r'cadence_event_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)', text))
    return float(counts["+Inf"]) - float(counts["0.1"])


async def test_a_stalled_event_loop_shows_in_the_lag_metric(client: Client) -> None:
    before = _late_wakeups(await (await client.get("/metrics")).text())
    time.sleep(0.3)  # noqa: ASYNC251  (the point: a synchronous call that blocks the loop)
    for _ in range(100):  # the probe records the late wake-up on its next turn of the loop
        await asyncio.sleep(0.05)
        if _late_wakeups(await (await client.get("/metrics")).text()) > before:
            break
    assert _late_wakeups(await (await client.get("/metrics")).text()) > before


async def _postgres_away(request: web.Request) -> web.Response:
    # Nothing listens on port 1: a database that is down, as during a restart.
    await asyncpg.connect("postgresql://cadence@127.0.0.1:1/cadence", timeout=5)
    return json_response({})


async def _redis_away(request: web.Request) -> web.Response:
    redis = create_redis("redis://127.0.0.1:1/0")
    try:
        await redis.get("anything")
    finally:
        await redis.aclose()
    return json_response({})


async def _defect(request: web.Request) -> web.Response:
    return json_response({"ratio": 1 // int(request.query.get("zero", "0"))})


@pytest.fixture
async def outage_client(settings: Settings, aiohttp_client: AiohttpClient) -> Client:
    app = create_app(settings)
    mount(app, [
        Endpoint("GET", "/v1/test-postgres-away", _postgres_away, PUBLIC, "pg", "test"),
        Endpoint("GET", "/v1/test-redis-away", _redis_away, PUBLIC, "redis", "test"),
        Endpoint("GET", "/v1/test-defect", _defect, PUBLIC, "defect", "test"),
    ])  # fmt: skip
    return await aiohttp_client(app)


@pytest.mark.parametrize("path", ["/v1/test-postgres-away", "/v1/test-redis-away"])
async def test_a_service_that_is_away_is_a_503_to_retry_not_a_500(
    outage_client: Client, path: str
) -> None:
    response = await outage_client.get(path)
    assert response.status == 503
    assert response.headers["Retry-After"] == "1"
    body = await response.json()
    _assert_envelope(body, "unavailable")
    assert body["error"]["details"] == {"retry_after_ms": 1000}


async def test_a_defect_is_still_a_500(outage_client: Client) -> None:
    response = await outage_client.get("/v1/test-defect")
    assert response.status == 500
    _assert_envelope(await response.json(), "internal")
