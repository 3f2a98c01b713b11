"""Staff writes outside holds (reschedule, series) against the live holds of a calendar.

A hold promises its holder that booking it will succeed; the database's exclusion constraint
knows appointments only, so before staff write an appointment into a time, the owning shard
checks that no one else holds anything within buffers of it, and keeps the time as a short-lived
hold of the staff caller (a guard) until the write has committed and the shard has reloaded it.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from actors import calendar_messages as m
from actors.calendar_state import CalendarState, Hold

# Bounds how long a guard outlives a server that died between its request and its release.
GUARD_TTL = timedelta(seconds=15)


def _iso(t: datetime) -> str:
    return t.isoformat()


def held_conflicts(state: CalendarState, holder: str, spans: tuple[m.Span, ...]) -> list[Any]:
    """Each span that comes within the calendar's buffers of another holder's live hold."""
    cal = state.calendar
    pad = timedelta(minutes=cal.buffer_before_min + cal.buffer_after_min)
    found: list[dict[str, Any]] = []
    for index, span in enumerate(spans):
        for hold in state.holds.values():
            if (
                hold.holder != holder
                and hold.specialist_id == span.specialist_id
                and hold.start < span.end + pad
                and span.start < hold.end + pad
            ):
                found.append({
                    "index": index, "start": _iso(span.start), "end": _iso(span.end),
                    "specialist_id": str(span.specialist_id), "reason": "held",
                    "held_until": _iso(hold.expires_at),
                })  # fmt: skip
                break
    return found


def guards(r: m.GuardRequest, organization_id: uuid.UUID, now: datetime) -> list[tuple[Hold, str]]:
    """The guard holds of a request, each with its idempotency scope."""
    return [
        (Hold(id=uuid.uuid4(), calendar_id=r.calendar_id, organization_id=organization_id,
              specialist_id=span.specialist_id, start=span.start, end=span.end,
              expires_at=now + GUARD_TTL, holder=r.caller.holder),
         f"{r.key}:{n}")
        for n, span in enumerate(r.spans)
    ]  # fmt: skip
