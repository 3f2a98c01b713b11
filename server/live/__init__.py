"""Live calendars over REST and the WebSocket: holds, booking through a hold, public booking,
slots served by the calendar shards with their stream position."""

from __future__ import annotations

from aiohttp import web

from server.gateway import OPS_KEY, register_op
from server.live import routes
from server.live.ws import HoldOps
from server.routing import mount
from server.services import CALENDARS_KEY

ENDPOINTS = routes.ENDPOINTS


def install(app: web.Application) -> None:
    """Mount the endpoints and, when the gateway is installed, the `hold` / `release` ops."""
    mount(app, ENDPOINTS)
    if OPS_KEY in app:
        ops = HoldOps(lambda: app[CALENDARS_KEY])
        register_op(app, "hold", ops.hold)
        register_op(app, "release", ops.release)
