"""Mounting virtual visits on the app (called by server/app.py after the gateway)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from server.gateway import GATEWAY_KEY, OPS_KEY, register_op
from server.identity import IDENTITY_KEY
from server.resources import DB_KEY, EVENTS_KEY, SETTINGS_KEY
from server.routing import mount
from server.visits import routes
from server.visits.provider import load_provider
from server.visits.rooms import Rooms
from server.visits.ws import VisitOps


def install(app: web.Application) -> None:
    """Mount the endpoint, the room channel's policy and, with the gateway, the ops."""
    settings = app[SETTINGS_KEY].visit
    rooms = Rooms(lambda: app[DB_KEY], lambda: app[EVENTS_KEY], settings)
    app[routes.ROOMS_KEY] = rooms
    app[routes.PROVIDER_KEY] = load_provider(settings)
    app[IDENTITY_KEY].policy.visit_rooms = rooms.may_join
    mount(app, routes.ENDPOINTS)
    if OPS_KEY in app:
        ops = VisitOps(rooms)
        register_op(app, "visit.join", ops.join)
        register_op(app, "visit.leave", ops.leave)
        register_op(app, "visit.signal", ops.signal)
        app.cleanup_ctx.append(_sweeping(ops))


SWEEP_S = 5.0
log = logging.getLogger("cadence.visits")


def _sweeping(ops: VisitOps) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(SWEEP_S)
                gateway = app.get(GATEWAY_KEY)
                if gateway is None:
                    continue
                try:
                    await ops.sweep(gateway.connected)
                except Exception as exc:  # keep sweeping: the next round retries the rest
                    log.warning("visit sweep failed", extra={"error": repr(exc)})

        task = asyncio.create_task(loop(), name="visit-sweep")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx
