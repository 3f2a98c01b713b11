"""Liveness and readiness. Readiness checks each dependency concurrently with a short timeout,
so a dead Redis answers 503 in well under two seconds instead of hanging the probe."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from actors import runtime
from server.http import json_response
from server.resources import DB_KEY, REDIS_KEY
from server.routing import PUBLIC, Endpoint, shape

CHECK_TIMEOUT_S = 1.5


async def live(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _check(name: str, probe: Callable[[], Awaitable[object]]) -> tuple[str, str | None]:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as exc:  # any failure means "not ready"; the name is what operators need
        return name, type(exc).__name__
    return name, None


async def ready(request: web.Request) -> web.Response:
    app = request.app
    results = await asyncio.gather(
        _check("postgres", app[DB_KEY].ping),
        _check("redis", app[REDIS_KEY].ping),
        _check("ray", runtime.ping),
    )
    failed = {name: why for name, why in results if why}
    checks = {name: ("failed" if why else "ok") for name, why in results}
    if failed:
        body = {
            "error": {
                "code": "unavailable",
                "message": "not ready: " + ", ".join(sorted(failed)),
                "details": {"checks": checks, "failed": sorted(failed)},
                "request_id": None,
            }
        }
        return json_response(body, status=503)
    return json_response({"status": "ready", "checks": checks})


ENDPOINTS = [
    Endpoint(
        "GET",
        "/health",
        live,
        PUBLIC,
        "Liveness: the process is up",
        "operations",
        response_schema=shape({"status": {"const": "ok"}}),
    ),
    Endpoint(
        "GET",
        "/health/ready",
        ready,
        PUBLIC,
        "Readiness: PostgreSQL, Redis and Ray answer (503 names what failed)",
        "operations",
        response_schema=shape(
            {
                "status": {"const": "ready"},
                "checks": {"type": "object", "additionalProperties": {"type": "string"}},
            }
        ),
        errors=(503,),
    ),
]
