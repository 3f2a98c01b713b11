"""Rule edits reach the calendar shards before they are acknowledged: after a scheduling
transaction that changed a calendar's rules commits (calendar, specialist hours and overrides,
membership, service edits), the owning shards reload those calendars' rules and publish the
slot changes, and only then does the request answer.

Appointments are not here: every write that moves, frees or takes time is made by the owning
shard itself (server/scheduling/appointments.py), so the shard is never behind Postgres and
there is no reload timer. Called from the scheduling unit of work with the events it
published; the events say what changed (*.updated / *.deleted carry the entity id). It lives in
the scheduling package, its only caller, so scheduling never imports server.live (which builds
on scheduling)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from server.resources import DB_KEY
from server.services import CALENDARS_KEY
from storage.scheduling import calendars_of_service, calendars_of_specialist

log = logging.getLogger("cadence.live")
NOTIFY_TIMEOUT_S = 5.0
# The calendars whose rules an edit of another entity changes.
_BY_ENTITY: dict[str, Callable[[uuid.UUID], Awaitable[list[uuid.UUID]]]] = {
    "specialist": calendars_of_specialist,
    "service": calendars_of_service,
}


async def after_commit(
    request: web.Request, org_id: uuid.UUID, events: Sequence[tuple[str, str, Any]]
) -> None:
    commands = request.app.get(CALENDARS_KEY)
    if commands is None or not events:
        return
    rules: set[uuid.UUID] = set()
    lookups: list[tuple[str, uuid.UUID]] = []
    for _, event_type, data in events:
        entity, _, action = event_type.partition(".")
        try:
            if entity == "calendar" and action in ("updated", "deleted"):
                rules.add(uuid.UUID(str(data["id"])))
            elif entity in _BY_ENTITY and action in ("updated", "deleted"):
                lookups.append((entity, uuid.UUID(str(data["id"]))))
        except (KeyError, TypeError, ValueError):
            continue
    try:
        async with asyncio.timeout(NOTIFY_TIMEOUT_S):
            if lookups:
                async with request.app[DB_KEY].tenant(org_id):
                    for entity, entity_id in dict.fromkeys(lookups):
                        rules.update(await _BY_ENTITY[entity](entity_id))
            if rules:
                await commands.rules_changed(rules)
    except Exception as exc:
        log.warning("calendar rules reload failed", extra={"error": repr(exc)})
