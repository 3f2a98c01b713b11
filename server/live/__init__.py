"""Live calendars over REST and the WebSocket: holds, booking through a hold, public booking,
slots served by the calendar shards with their stream position."""

from __future__ import annotations

from aiohttp import web

from server.gateway import OPS_KEY, register_op
from server.live import routes
from server.live.quota import ANONYMOUS_HOLDS_KEY, AnonymousHolds
from server.live.ws import HoldOps
from server.middleware import RATE_LIMITER_KEY
from server.resources import KEYS_KEY, REDIS_KEY
from server.routing import mount
from server.services import CALENDARS_KEY

ENDPOINTS = routes.ENDPOINTS


def install(app: web.Application) -> None:
    """Mount the endpoints and, when the gateway is installed, the `hold` / `release` ops."""
    anonymous_holds = AnonymousHolds(
        lambda: app.get(RATE_LIMITER_KEY), lambda: app[REDIS_KEY], lambda: app[KEYS_KEY]
    )
    app[ANONYMOUS_HOLDS_KEY] = anonymous_holds
    mount(app, ENDPOINTS)
    if OPS_KEY in app:
        ops = HoldOps(lambda: app[CALENDARS_KEY], anonymous_holds)
        register_op(app, "hold", ops.hold)
        register_op(app, "release", ops.release)
