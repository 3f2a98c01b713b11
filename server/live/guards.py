"""Staff appointment writes that do not go through a hold (reschedule, series) ask the owning
calendar shard first: it refuses a time that someone else holds (a hold promises its holder the
booking) and keeps the time from new holds until the write has committed and the shard has
reloaded it (actors/calendar_guard.py). The scheduling unit of work releases the guards after
the commit, or when the transaction fails."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aiohttp import web

from actors import calendar_messages as m
from server.live import shared
from server.services import CALENDARS_KEY
from storage.types import Principal


@dataclass(frozen=True, slots=True)
class Guard:
    caller: m.Caller
    calendar_id: uuid.UUID
    hold_ids: tuple[uuid.UUID, ...]


async def take(
    request: web.Request, who: Principal, calendar_id: uuid.UUID, spans: Iterable[m.Span]
) -> Guard | None:
    """The shard's guard over `spans`; raises the 409 (held) or 503 (shard restarting) error."""
    commands = request.app.get(CALENDARS_KEY)
    if commands is None:  # an app without live calendars
        return None
    caller = m.Caller(f"staff:{uuid.uuid4().hex}", who.org_id, who.role.value)
    guarded = await shared.settled(commands.guard(caller, calendar_id, spans), m.Guarded)
    return Guard(caller, calendar_id, guarded.hold_ids)


async def release(request: web.Request, guards: Sequence[Guard]) -> None:
    commands = request.app.get(CALENDARS_KEY)
    if commands is None:
        return
    for guard in guards:
        await commands.release_guard(guard.caller, guard.calendar_id, guard.hold_ids)
