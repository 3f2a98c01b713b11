"""Guided telerehab sessions: REST (start, read, control, questionnaire) and the WebSocket ops
`pose` (landmark batches), binary `pose.landmarks` (the same as float32), binary `pose.frame`
(camera images) and `session.pause`, `session.resume`, `session.skip`, `session.done`,
`session.abandon`."""

from __future__ import annotations

from aiohttp import web

from realtime import Pipelined
from server.gateway import OPS_KEY, register_op
from server.routing import mount
from server.services import SESSIONS_KEY
from server.sessions import routes
from server.sessions.ws import SessionOps

ENDPOINTS = routes.ENDPOINTS


def install(app: web.Application) -> None:
    """Mount the endpoints and, when the gateway is installed, the session ops."""
    mount(app, ENDPOINTS)
    if OPS_KEY in app:
        ops = SessionOps(lambda: app[SESSIONS_KEY])
        # A patient's stream of pose frames does not wait for each reply (realtime.Pipelined).
        register_op(app, "pose", Pipelined(ops.pose, live=True))
        register_op(app, "pose.landmarks", Pipelined(ops.landmarks, live=True))
        register_op(app, "pose.frame", ops.frame)
        for name, handler in ops.controls().items():
            register_op(app, name, handler)
