"""The WebSocket `telemetry` op: the same batch and the same facade as `POST /v1/telemetry`; the
`ok` reply comes only after the batch is durably stored (PROTOCOL.md).

The frame `{"id", "op": "telemetry", "events": [...]}` is itself a batch object with an `events`
array, so it goes to the ingest actors as the bytes that arrived, exactly like a REST body, and
is decoded into rows there, once (`realtime.Verbatim`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from actors.telemetry import TelemetryCommands
from realtime import ConnectionContext, OpError
from server.telemetry.routes import SUBMITTERS, submit


class TelemetryOp:
    def __init__(self, commands: Callable[[], TelemetryCommands]) -> None:
        self._commands = commands  # resolved lazily: the facade exists once the app started

    async def __call__(
        self, ctx: ConnectionContext, frame: dict[str, Any], raw: bytes
    ) -> dict[str, Any]:
        who = ctx.principal
        if who is None:
            raise OpError("unauthorized", "telemetry needs an authenticated connection")
        if not SUBMITTERS.allows(who.role):
            raise OpError("forbidden", "your role may not send telemetry")
        # The gateway's parsed copy of the events dies here, before the wait for storage,
        # rather than being kept alive (and aged through the garbage collector's generations)
        # until the batch is acknowledged: the actor reads `raw`.
        frame.pop("events", None)
        result = await submit(self._commands(), who, raw)
        return result.as_dict()
