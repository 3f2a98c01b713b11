"""Mounting the WebSocket gateway (realtime/) with the server's implementations of its Protocols.

Other domains add WebSocket ops with `register_op(app, "hold", handler)` before the app starts;
a handler implements `realtime.OpHandler` and raises `realtime.OpError` for error replies
(`realtime.Pipelined` wraps a submitter for a stream of frames that need not wait for each reply).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from realtime import (
    Authenticator,
    CloseCode,
    Gateway,
    Limits,
    OpHandler,
    Pipelined,
    SubscriptionPolicy,
    Verbatim,
)
from server import metrics, middleware
from server.identity import IDENTITY_KEY
from server.resources import EVENTS_KEY, KEYS_KEY, REDIS_KEY, SETTINGS_KEY
from server.routing import Endpoint, RateLimit, mount, public

log = logging.getLogger("cadence.gateway")

GATEWAY_KEY = web.AppKey("gateway", Gateway)
# Tests and the bench may put their own limits here before the app starts.
LIMITS_KEY = web.AppKey("gateway_limits", Limits)
OPS_KEY = web.AppKey("gateway_ops", dict[str, OpHandler | Pipelined | Verbatim])

# Load balancers and clinics behind one NAT open many sockets from one address.
WS_RATE = RateLimit(limit=5000, window_s=10)


def register_op(app: web.Application, name: str, handler: OpHandler | Pipelined | Verbatim) -> None:
    """Serve client frames `{"op": name, ...}` with `handler` (call before the app starts)."""
    app[OPS_KEY][name] = handler


def install(app: web.Application) -> None:
    app[OPS_KEY] = {}
    mount(
        app,
        [
            Endpoint(
                "GET",
                "/v1/ws",
                websocket,
                public(WS_RATE),
                "WebSocket gateway: subscribe to channels, live events, recovery (PROTOCOL.md)",
                "realtime",
                status=101,
                query={"access_token": "access token for browsers (never logged)"},
                errors=(401, 403),
            )
        ],
    )
    app.cleanup_ctx.append(gateway_ctx)
    app.on_shutdown.append(shutdown)


async def websocket(request: web.Request) -> web.StreamResponse:
    return await request.app[GATEWAY_KEY].handle(request)


async def gateway_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    gateway = Gateway(
        redis=app[REDIS_KEY],
        redis_url=settings.redis_url,
        events=app[EVENTS_KEY],
        keys=app[KEYS_KEY],
        authenticator=_authenticator(app),
        policy=_policy(app),
        origins=settings.ws_origins,
        limits=app.get(LIMITS_KEY) or Limits(),
        observer=MetricsObserver(),
        preauthenticated=middleware.optional_principal,
        ops=app[OPS_KEY],
    )
    await gateway.start()
    app[GATEWAY_KEY] = gateway
    # A revoked member (disabled, removed, new role, signed out) loses its sockets on every
    # process at once (each process hears every revocation on the identity feed).
    stop_listening = app[IDENTITY_KEY].gate.feed.listen(
        lambda revoked: _log_closed(
            gateway.close_matching(revoked.matches, CloseCode.REVOKED, "access revoked")
        )
    )
    yield
    stop_listening()
    await gateway.stop()


def _log_closed(count: int) -> None:
    if count:
        log.info("closed %d revoked WebSocket(s)", count)


async def shutdown(app: web.Application) -> None:
    gateway = app.get(GATEWAY_KEY)
    if gateway is not None:
        try:
            await gateway.close_all(CloseCode.GOING_AWAY)
        except TimeoutError:
            log.warning("some WebSockets did not close in time")


def _authenticator(app: web.Application) -> Authenticator:
    return app[IDENTITY_KEY].authenticator


def _policy(app: web.Application) -> SubscriptionPolicy:
    # The identity policy: the same place that decides routes decides channels.
    return app[IDENTITY_KEY].policy


class MetricsObserver:
    def opened(self) -> None:
        metrics.WS_OPEN.inc()

    def closed(self, code: int) -> None:
        metrics.WS_OPEN.dec()
        metrics.WS_CLOSES.labels(str(code)).inc()

    def frames(self, direction: str, op: str, n: int = 1) -> None:
        if n:
            metrics.WS_FRAMES.labels(direction, op).inc(n)

    def queued(self, total_bytes: int, connections: int) -> None:
        metrics.QUEUE_DEPTH.labels("ws_outbound_bytes").set(total_bytes)

    def dropped(self, reason: str) -> None:
        metrics.QUEUE_DROPPED.labels(f"ws_{reason}").inc()
