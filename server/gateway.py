"""Mounting the WebSocket gateway (realtime/) with the server's implementations of its Protocols.

Other domains add WebSocket ops with `register_op(app, "hold", handler)` before the app starts;
a handler implements `realtime.OpHandler` and raises `realtime.OpError` for error replies.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
from aiohttp import web

from realtime import Authenticator, CloseCode, Gateway, Limits, OpHandler, SubscriptionPolicy
from server import metrics, middleware
from server.resources import DB_KEY, EVENTS_KEY, KEYS_KEY, REDIS_KEY, SETTINGS_KEY
from server.routing import Endpoint, RateLimit, mount, public
from storage.db import Database
from storage.types import STAFF_ROLES, Channel, ChannelKind, Principal, Role

log = logging.getLogger("cadence.gateway")

GATEWAY_KEY = web.AppKey("gateway", Gateway)
# Tests and the bench may put their own limits here before the app starts.
LIMITS_KEY = web.AppKey("gateway_limits", Limits)
OPS_KEY = web.AppKey("gateway_ops", dict[str, OpHandler])

# Load balancers and clinics behind one NAT open many sockets from one address.
WS_RATE = RateLimit(limit=5000, window_s=10)


def register_op(app: web.Application, name: str, handler: OpHandler) -> None:
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
    yield
    await gateway.stop()


async def shutdown(app: web.Application) -> None:
    gateway = app.get(GATEWAY_KEY)
    if gateway is not None:
        try:
            await gateway.close_all(CloseCode.GOING_AWAY)
        except TimeoutError:
            log.warning("some WebSockets did not close in time")


class _VerifyAdapter:
    """For an authenticator that only has the synchronous `verify`."""

    def __init__(self, verify: Callable[[str], Principal]) -> None:
        self._verify = verify

    async def authenticate_token(self, token: str) -> Principal:
        return self._verify(token)


def _authenticator(app: web.Application) -> Authenticator:
    found: Any = app[middleware.AUTHENTICATOR_KEY]
    if hasattr(found, "authenticate_token"):
        return found  # type: ignore[no-any-return]
    return _VerifyAdapter(found.verify)


def _policy(app: web.Application) -> SubscriptionPolicy:
    found: Any = app.get(middleware.POLICY_KEY)
    if hasattr(found, "may_subscribe") and hasattr(found, "counters_only"):
        return found  # type: ignore[no-any-return]

    def database() -> Database:
        return app[DB_KEY]

    try:
        from server.identity.policy import Policy
    except ImportError:
        return FallbackPolicy(database)
    return Policy(database)


class FallbackPolicy:
    """PROTOCOL.md's channel table, for when server/identity/policy.py is not there."""

    def __init__(self, db: Callable[[], Database]) -> None:
        self._db = db

    async def may_subscribe(self, principal: Principal | None, channel: Channel) -> bool:
        try:
            if channel.kind is ChannelKind.ORG:
                return _member(principal, channel.id, STAFF_ROLES | {Role.OWNER})
            if channel.kind is ChannelKind.PATIENT:
                return await self._patient(principal, channel.id)
            async with self._db().anonymous() as conn:
                row = await conn.fetchrow(
                    "SELECT organization_id, public FROM calendar_visibility($1)", channel.id
                )
        except (asyncpg.UndefinedTableError, asyncpg.UndefinedFunctionError):
            return False
        if row is None:
            return False
        return bool(row["public"]) or _member(principal, row["organization_id"], STAFF_ROLES)

    async def _patient(self, principal: Principal | None, patient_id: uuid.UUID) -> bool:
        if principal is None or principal.org_id is None:
            return False
        if principal.role is Role.PATIENT:
            if principal.patient_id != patient_id:
                return False
        elif principal.role not in STAFF_ROLES:
            return False
        async with self._db().tenant(principal.org_id) as conn:
            found = await conn.fetchval("SELECT 1 FROM patients WHERE id = $1", patient_id)
        return found is not None

    def counters_only(self, principal: Principal, channel: Channel) -> bool:
        return channel.kind is ChannelKind.ORG and principal.role is Role.OWNER


def _member(principal: Principal | None, org_id: uuid.UUID, allowed: frozenset[Role]) -> bool:
    return principal is not None and principal.org_id == org_id and principal.role in allowed


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
