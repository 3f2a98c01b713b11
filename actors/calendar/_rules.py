"""Rule edits as the owning shard runs them under its organization's lock: the write and its
audit row, then the new rules of every loaded calendar the edit touches, read in the same
tenant transaction (so what the shard applies is exactly what it committed)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import asyncpg

from actors.calendar import messages as m
from storage import audit
from storage.scheduling import (
    CalendarSnapshot,
    NotFound,
    delete_calendar,
    delete_override,
    edit_calendar,
    load_calendar_snapshot,
    replace_weekly_hours,
    set_override,
)


def touches(r: m.RuleEdit, calendar_id: uuid.UUID, members: frozenset[uuid.UUID]) -> bool:
    """Whether the edit changes the rules of this calendar (with these specialists)."""
    if isinstance(r, m.EditCalendar | m.DeleteCalendar):
        return r.calendar_id == calendar_id
    return r.specialist_id in members


async def _edit(conn: asyncpg.Connection, r: m.RuleEdit) -> m.RulesEdited:
    org = r.organization_id
    before: Any
    after: Any
    if isinstance(r, m.SetWeeklyHours):
        week_before, week_after = await replace_weekly_hours(org, r.specialist_id, r.week)
        before, after = {"hours": week_before}, {"hours": week_after}
        action, entity, entity_id = "specialist.weekly_hours", "specialist", r.specialist_id
        edited = m.RulesEdited(week_before, week_after)
    elif isinstance(r, m.SetOverride):
        was, now = await set_override(conn, org, r.specialist_id, r.day, r.spans)
        before, after = was, now
        action, entity, entity_id = "specialist.override", "specialist", r.specialist_id
        edited = m.RulesEdited(was, now)
    elif isinstance(r, m.DeleteOverride):
        before, after = await delete_override(r.specialist_id, r.day), None
        action, entity, entity_id = "specialist.override_delete", "specialist", r.specialist_id
        edited = m.RulesEdited(before, None)
    elif isinstance(r, m.EditCalendar):
        before, after = await edit_calendar(conn, org, r.calendar_id, r.values, r.members)
        action, entity, entity_id = "calendar.update", "calendar", r.calendar_id
        edited = m.RulesEdited(before, after)
    else:
        before, after = await delete_calendar(r.calendar_id), None
        action, entity, entity_id = "calendar.delete", "calendar", r.calendar_id
        edited = m.RulesEdited(before, None)
    await audit.record(
        conn, actor=r.actor, organization_id=org, action=action, entity=entity,
        entity_id=entity_id, before=before, after=after,
    )  # fmt: skip
    return edited


async def edit_rules(
    conn: asyncpg.Connection, r: m.RuleEdit, reread: Iterable[uuid.UUID], now: datetime
) -> tuple[m.RulesEdited, dict[uuid.UUID, CalendarSnapshot]]:
    """The edit, and the rules after it of the calendars `reread` (loaded ones it touches; a
    deleted calendar has none), on the caller's tenant transaction."""
    edited = await _edit(conn, r)
    snaps = {}
    if not isinstance(r, m.DeleteCalendar):
        for calendar_id in reread:
            with contextlib.suppress(NotFound):  # deleted meanwhile: its next touch drops it
                snaps[calendar_id] = await load_calendar_snapshot(conn, calendar_id, now=now)
    return edited, snaps
