"""A webhook receiver for tests: a local aiohttp server (127.0.0.1, a free port) that verifies
every request with the Standard Webhooks library and answers the statuses the test queued."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    path: str
    webhook_id: str
    payload: dict[str, Any]
    headers: dict[str, str]
    body: str


@dataclass
class Route:
    secret: str = ""
    answers: deque[int] = field(default_factory=deque)  # then 200
    received: list[Received] = field(default_factory=list)
    unverified: int = 0  # requests whose signature did not verify (must stay 0)
    delay_s: float = 0.0  # wait before answering (a slow receiver)
    location: str = ""  # answer 302 to here (a redirect the sender must not follow)


class Receiver:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    async def start(self) -> None:
        await self._server.start_server()

    async def close(self) -> None:
        await self._server.close()

    @property
    def port(self) -> int:
        port = self._server.port
        assert port is not None
        return port

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        self.routes.setdefault(name, Route())
        return f"http://{host}:{self.port}/{name}"

    def route(self, name: str) -> Route:
        return self.routes.setdefault(name, Route())

    async def _handle(self, request: web.Request) -> web.Response:
        route = self.route(request.match_info["name"])
        body = await request.text()
        headers = dict(request.headers)
        try:
            payload = Webhook(route.secret).verify(body, headers)
        except WebhookVerificationError:
            route.unverified += 1
            return web.Response(status=400)
        route.received.append(
            Received(request.match_info["name"], headers["webhook-id"], payload, headers, body)
        )
        if route.delay_s:
            await asyncio.sleep(route.delay_s)
        if route.location:
            return web.Response(status=302, headers={"Location": route.location})
        status = route.answers.popleft() if route.answers else 200
        return web.Response(status=status)
