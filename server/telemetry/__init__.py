"""Telemetry: ingest over REST and the WebSocket op, GDPR export, aggregates read side."""

from aiohttp import web

from realtime import Verbatim
from server.gateway import OPS_KEY, register_op
from server.routing import mount
from server.services import TELEMETRY_KEY


def install(app: web.Application) -> None:
    """Mount the endpoints and, when the gateway is installed, the `telemetry` op."""
    from server.telemetry.routes import ENDPOINTS
    from server.telemetry.ws import TelemetryOp

    mount(app, ENDPOINTS)
    if OPS_KEY in app:
        register_op(app, "telemetry", Verbatim(TelemetryOp(lambda: app[TELEMETRY_KEY])))


__all__ = ["install"]
