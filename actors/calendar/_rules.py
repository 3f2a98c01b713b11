"""Rule edits as the owning shard runs them under its organization's lock: the write and its
audit row, then the new rules of every loaded calendar the edit touches, read in the same
tenant transaction (so what the shard applies is exactly what it committed)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import asyncpg

from actors.calendar import messages as m
from storage import audit
from storage.scheduling import (
    CalendarSnapshot,
    NotFound,
    calendars_of_service,
    calendars_of_specialist,
    delete_calendar,
    delete_override,
    delete_service,
    delete_specialist,
    edit_calendar,
    edit_service,
    edit_specialist,
    load_calendar_snapshot,
    replace_weekly_hours,
    set_override,
    set_session_capacity,
)


async def _write(conn: asyncpg.Connection, r: m.RuleEdit) -> tuple[str, uuid.UUID, Any, Any]:
    """The edit: its audit action, the entity it changed, and (before, after) as storage reads
    them (None where nothing was or is left)."""
    org = r.organization_id
    before: Any
    after: Any
    if isinstance(r, m.SetWeeklyHours):
        before, after = await replace_weekly_hours(org, r.specialist_id, r.week)
        return "specialist.weekly_hours", r.specialist_id, before, after
    if isinstance(r, m.SetOverride):
        was, now = await set_override(conn, org, r.specialist_id, r.day, r.spans)
        return "specialist.override", r.specialist_id, was, now
    if isinstance(r, m.DeleteOverride):
        gone = await delete_override(r.specialist_id, r.day)
        return "specialist.override_delete", r.specialist_id, gone, None
    if isinstance(r, m.EditSpecialist):
        before, after = await edit_specialist(conn, org, r.specialist_id, r.values, r.specialty_ids)
        return "specialist.update", r.specialist_id, before, after
    if isinstance(r, m.DeleteSpecialist):
        return "specialist.delete", r.specialist_id, await delete_specialist(r.specialist_id), None
    if isinstance(r, m.EditService):
        before, after = await edit_service(r.service_id, r.values)
        if "capacity" in r.values:  # the coming sessions too (refused below booked seats)
            await set_session_capacity(conn, r.service_id, int(r.values["capacity"]))
        return "service.update", r.service_id, before, after
    if isinstance(r, m.DeleteService):
        return "service.delete", r.service_id, await delete_service(r.service_id), None
    if isinstance(r, m.EditCalendar):
        before, after = await edit_calendar(conn, org, r.calendar_id, r.values, r.members)
        return "calendar.update", r.calendar_id, before, after
    return "calendar.delete", r.calendar_id, await delete_calendar(r.calendar_id), None


async def _touched(r: m.RuleEdit) -> list[uuid.UUID]:
    """The calendars whose rules the edit changed, as the database says after it (membership
    counts inactive specialists too: reactivating one adds it back to their slots)."""
    if isinstance(r, m.EditCalendar):
        return [r.calendar_id]
    if isinstance(r, m.DeleteCalendar):
        return []  # a deleted calendar has no rules; the shard forgets it
    if isinstance(r, m.EditService | m.DeleteService):
        return await calendars_of_service(r.service_id)
    return await calendars_of_specialist(r.specialist_id)


async def edit_rules(
    conn: asyncpg.Connection, r: m.RuleEdit, loaded: Collection[uuid.UUID], now: datetime
) -> tuple[m.RulesEdited, dict[uuid.UUID, CalendarSnapshot]]:
    """The edit (with its audit row), and the rules after it of the `loaded` calendars it
    touches, on the caller's tenant transaction."""
    action, entity_id, before, after = await _write(conn, r)
    # The week is audited as {"hours": [...]}: the audit diff is by field.
    wrap = isinstance(r, m.SetWeeklyHours)
    await audit.record(
        conn, actor=r.actor, organization_id=r.organization_id, action=action,
        entity=action.partition(".")[0], entity_id=entity_id,
        before={"hours": before} if wrap else before, after={"hours": after} if wrap else after,
    )  # fmt: skip
    snaps = {}
    for calendar_id in await _touched(r):
        if calendar_id in loaded:
            with contextlib.suppress(NotFound):  # deleted: the shard drops it on its next touch
                snaps[calendar_id] = await load_calendar_snapshot(conn, calendar_id, now=now)
    return m.RulesEdited(before, after), snaps
