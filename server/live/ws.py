"""The WebSocket `hold` and `release` ops (PROTOCOL.md), on the same facade as REST.

`{"op": "hold", "calendar_id", "start", "specialist_id"?, "hold_token"?}` -> the hold (plus a
`hold_token` for an anonymous connection, which then identifies that booker);
`{"op": "release", "hold_id", "hold_token"?}` -> `{"hold_id"}`.
"""

from __future__ import annotations

import uuid
from typing import Any

from actors.calendar import CalendarCommands, anonymous, caller_of
from actors.calendar import messages as m
from realtime import ConnectionContext, OpError
from server.live import shared
from server.live.quota import AnonymousHolds
from server.web.idempotency import key_of
from server.web.params import uuid_value


def _uuid(frame: dict[str, Any], name: str, required: bool = True) -> uuid.UUID | None:
    raw = frame.get(name)
    # 422 with the field details REST gives for the same value (server/web/params.py)
    return uuid_value(raw, name) if required else shared.optional_uuid(raw, name)


def _token(frame: dict[str, Any]) -> str | None:
    token = frame.get("hold_token")
    if token is None:
        return None
    if not isinstance(token, str) or not 32 <= len(token) <= 128:
        raise OpError("validation_failed", "hold_token is not a hold token")
    return token


class HoldOps:
    def __init__(self, commands: Any, anonymous_holds: AnonymousHolds) -> None:
        self._commands = commands  # resolved lazily: the facade exists once the app started
        self._anonymous = anonymous_holds

    def _facade(self) -> CalendarCommands:
        found: CalendarCommands = self._commands()
        return found

    async def hold(self, ctx: ConnectionContext, frame: dict[str, Any]) -> dict[str, Any]:
        calendar_id = _uuid(frame, "calendar_id")
        assert calendar_id is not None
        specialist_id = _uuid(frame, "specialist_id", required=False)
        token = None
        start = shared.instant(frame.get("start"), "start")
        if ctx.principal is None:
            # Each fresh token is a new booker: without these limits one socket can take
            # every slot of a public calendar in a second.
            await self._anonymous.admit(ctx.remote, calendar_id, ctx.id)
            token = _token(frame) or shared.new_hold_token()
            caller = anonymous(token)
        else:
            caller = caller_of(ctx.principal)
        key = key_of(frame.get("idempotency_key"), "idempotency_key")
        call = self._facade().hold(caller, calendar_id, start, specialist_id, key)
        granted = await shared.settled(call, m.HoldGranted)
        result = shared.render_hold(granted.hold, granted.replaced)
        if token is None:
            return result
        if granted.replaced is not None:
            await self._anonymous.released(ctx.id, str(granted.replaced))
        await self._anonymous.granted(ctx.id, str(granted.hold.id), granted.hold.expires_at)
        return {**result, "hold_token": token}

    async def release(self, ctx: ConnectionContext, frame: dict[str, Any]) -> dict[str, Any]:
        hold_id = _uuid(frame, "hold_id")
        assert hold_id is not None
        if ctx.principal is None:
            token = _token(frame)
            if token is None:
                raise OpError("unauthorized", "an anonymous release needs the hold_token")
            caller = anonymous(token)
        else:
            caller = caller_of(ctx.principal)
        await shared.settled(self._facade().release(caller, hold_id), m.Released)
        if ctx.principal is None:
            await self._anonymous.released(ctx.id, str(hold_id))
        return {"hold_id": str(hold_id)}
