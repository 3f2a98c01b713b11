"""Keeping the calendar shards in step with changes made outside them: after a scheduling
transaction commits (staff cancel, reschedule, series booking, calendar / specialist / service
edits), the owning shards reload the calendars it touched and publish the slot changes.

Called from the scheduling unit of work with the events it published; the events already say
what changed (appointment.* carry the calendar, *.updated the entity id). Best effort after
commit: a failed notice is logged and the shard's periodic reload catches up."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from server.resources import DB_KEY
from server.services import CALENDARS_KEY

log = logging.getLogger("cadence.live")
NOTIFY_TIMEOUT_S = 5.0
_BY_ENTITY = {
    "specialist": "SELECT calendar_id FROM calendar_specialists WHERE specialist_id = $1",
    "service": "SELECT id FROM calendars WHERE service_id = $1",
}


async def after_commit(
    request: web.Request, org_id: uuid.UUID, events: Sequence[tuple[str, str, Any]]
) -> None:
    commands = request.app.get(CALENDARS_KEY)
    if commands is None or not events:
        return
    moved: set[uuid.UUID] = set()
    rules: set[uuid.UUID] = set()
    lookups: list[tuple[str, uuid.UUID]] = []
    for _, event_type, data in events:
        entity, _, action = event_type.partition(".")
        try:
            if entity == "appointment":
                if isinstance(data, dict) and data.get("calendar_id"):
                    moved.add(uuid.UUID(str(data["calendar_id"])))
            elif entity == "calendar" and action in ("updated", "deleted"):
                rules.add(uuid.UUID(str(data["id"])))
            elif entity in _BY_ENTITY and action in ("updated", "deleted"):
                lookups.append((entity, uuid.UUID(str(data["id"]))))
        except (KeyError, TypeError, ValueError):
            continue
    try:
        async with asyncio.timeout(NOTIFY_TIMEOUT_S):
            if lookups:
                async with request.app[DB_KEY].tenant(org_id) as conn:
                    for entity, entity_id in dict.fromkeys(lookups):
                        rows = await conn.fetch(_BY_ENTITY[entity], entity_id)
                        rules.update(r[0] for r in rows)
            if rules:
                await commands.changed(rules, rules=True)
            if moved - rules:
                await commands.changed(moved - rules)
    except Exception as exc:
        log.warning("live calendar notice failed", extra={"error": repr(exc)})
