"""Quiet hours: when a message that is not urgent waits until morning."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from storage.notifications import QuietHours


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def quiet_until(now: datetime, quiet: QuietHours | None, tz: ZoneInfo) -> datetime | None:
    """The end of the quiet period `now` falls in (an aware instant), or None when `now` is not
    quiet. [start, end) in local minutes; start > end wraps past midnight; start == end: none."""
    if quiet is None or quiet.start_min == quiet.end_min:
        return None
    local = now.astimezone(tz)
    minute = local.hour * 60 + local.minute
    start, end = quiet.start_min, quiet.end_min
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    if start > end and minute >= start:  # evening part: ends tomorrow morning
        day += timedelta(days=1)
    wall = day + timedelta(minutes=end)
    # Wall-clock time to an instant in the zone (a DST gap resolves forward, fold=0).
    return wall.replace(tzinfo=tz)
