"""The slot list of one calendar: ``compute_slots``."""

from __future__ import annotations

import math
from bisect import bisect_right, insort
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from uuid import UUID

from ._assign import preference_order
from ._hours import compile_weekly, days_set, specialist_runs, weekly_set
from ._intervals import Span, intersect, normalize, subtract
from ._model import BusyInterval, Calendar, CampaignPeriod, RollingHorizon, Slot
from ._zone import DAY, ZoneTimeline, epoch_day

# Local dates around the window whose hours are expanded: a working interval lies within one
# local date, so this covers the whole interval of any start in the window, hence its anchor.
_DAY_MARGIN = 2


def _seconds(t: datetime, *, ceil: bool) -> int:
    """Whole seconds since the epoch, rounded down or up."""
    # Exact: a float holds any microsecond timestamp of this era to well under a microsecond.
    return math.ceil(t.timestamp()) if ceil else math.floor(t.timestamp())


def _require_aware(*instants: datetime) -> None:
    for t in instants:
        if t.utcoffset() is None:  # naive: timestamp() would read it as the host's local time
            raise ValueError(f"expected a timezone-aware datetime, got {t!r}")


def compute_slots(
    calendar: Calendar,
    busy: Iterable[BusyInterval],
    holds: Iterable[BusyInterval],
    now: datetime,
    window_start: datetime,
    window_end: datetime,
    assignment_counts: Mapping[UUID, int] | None = None,
) -> list[Slot]:
    """Every bookable slot of ``calendar`` whose start lies in ``[window_start, window_end)``.

    Guarantees, for each returned ``Slot`` (sorted by start, unique starts, UTC datetimes):

    * Window: start >= ``now`` + minimum notice; rolling horizon: start < ``now`` + N x 24 h;
      campaign: the start's calendar-local date is within the period.
    * Hours: ``[start, end)`` lies within one working interval of each listed specialist: their own
      weekly hours or that date's override, narrowed by their per-calendar hours and by the
      calendar-wide hours (see ``_hours`` for the wall-clock rule on DST days).
    * Alignment: starts are ``anchor + k x slot interval`` in real elapsed time, where the anchor
      is the start of that working interval (after the narrowing above). Starts therefore never
      fall in a spring-forward gap, and a repeated fall-back hour yields a slot per real instant.
    * Buffers: the specialist is free on ``[start - buffer_before, end + buffer_after)``, and each
      appointment and hold is taken to occupy its own buffers too; so a slot must keep
      ``buffer_before + buffer_after`` from every busy interval. Buffers may reach outside working
      hours (preparing before opening time is allowed); only the appointment itself may not.
    * Daily cap: the specialist has fewer than ``daily_cap`` appointments plus live holds starting
      on the slot's specialist-local date. Holds count because a hold promises its holder that
      booking will succeed; if they did not, a capped day's last place could be held by several
      patients at once and all but one would fail at booking.
    * ``specialist_ids`` are the specialists who can take it, in the calendar's preference order
      (see ``preference_key``).

    ``busy`` and ``holds`` of specialists outside the calendar are ignored; inputs with sub-second
    precision are rounded to whole seconds conservatively.
    """
    _require_aware(now, window_start, window_end)
    notice = calendar.min_notice_min * 60
    now_s = _seconds(now, ceil=True)
    lo = max(_seconds(window_start, ceil=True), now_s + notice)
    hi = _seconds(window_end, ceil=True)
    if isinstance(calendar.horizon, RollingHorizon):
        hi = min(hi, now_s + calendar.horizon.days * DAY)
    if lo >= hi or not calendar.specialists:
        return []

    zones: dict[str, ZoneTimeline] = {}

    def zone_of(key: str) -> ZoneTimeline:
        if key not in zones:
            # Covers every instant of the dates days_of() expands (a date's instants lie within
            # about a day of its UTC midnight).
            margin = (_DAY_MARGIN + 2) * DAY
            zones[key] = ZoneTimeline(key, lo - margin, hi + margin)
        return zones[key]

    def days_of(zone: ZoneTimeline) -> range:
        return range(zone.local_day(lo) - _DAY_MARGIN, zone.local_day(hi) + _DAY_MARGIN + 1)

    cal_zone = zone_of(calendar.timezone)
    cal_days = days_of(cal_zone)
    allowed: list[Span] = [(lo, hi)]
    if isinstance(calendar.horizon, CampaignPeriod):
        first, last = epoch_day(calendar.horizon.start), epoch_day(calendar.horizon.end)
        period = days_set(cal_zone, (d for d in cal_days if first <= d <= last))
        allowed = intersect(allowed, period)
        if not allowed:
            return []
    cal_hours = None
    if calendar.hours is not None:
        cal_hours = weekly_set(compile_weekly(calendar.hours), cal_zone, cal_days)

    members = {m.specialist.id for m in calendar.specialists}
    taken: dict[UUID, list[Span]] = {}
    for b in (*busy, *holds):
        if b.specialist_id in members:
            span = (_seconds(b.start, ceil=False), _seconds(b.end, ceil=True))
            taken.setdefault(b.specialist_id, []).append(span)

    duration = calendar.duration_min * 60
    step = calendar.slot_interval_min * 60
    pad = (calendar.buffer_before_min + calendar.buffer_after_min) * 60
    takers: list[tuple[UUID, list[range]]] = []
    for member in preference_order(calendar, assignment_counts):
        sid = member.specialist.id
        zone = zone_of(member.specialist.timezone)
        runs = specialist_runs(member, zone, days_of(zone))
        if cal_hours is not None:
            runs = intersect(runs, cal_hours)
        own = taken.get(sid, [])
        starts_ok = allowed
        if calendar.daily_cap is not None and own:
            per_day = Counter(zone.local_day(a) for a, _ in own)
            full = [day for day, n in per_day.items() if n >= calendar.daily_cap]
            if full:
                starts_ok = subtract(allowed, days_set(zone, full))
        takers.append((sid, _start_ranges(runs, own, starts_ok, duration, pad, step)))
    return _merge(takers, duration, step)


def _start_ranges(
    runs: list[Span], busy: list[Span], allowed: list[Span], duration: int, pad: int, step: int
) -> list[range]:
    """One specialist's slot starts, as ranges: aligned on each run's start (its anchor), the
    slot within the run and ``pad`` away from every busy span, the start within ``allowed``."""
    # In integer seconds [s, s + duration) fits in [a, b) iff s is in [a, b - duration + 1), and
    # it misses [x - pad, y + pad) iff s is outside [x - pad - duration + 1, y + pad).
    fits = [(a, b - duration + 1) for a, b in runs if b - a >= duration]
    clashes = normalize((x - pad - duration + 1, y + pad) for x, y in busy)
    anchors = [a for a, _ in fits]
    out = []
    for lo, hi in subtract(intersect(fits, allowed), clashes):
        anchor = anchors[bisect_right(anchors, lo) - 1]
        first = anchor - (anchor - lo) // step * step  # the first aligned start >= lo
        if first < hi:
            out.append(range(first, hi, step))
    return out


def _merge(takers: list[tuple[UUID, list[range]]], duration: int, step: int) -> list[Slot]:
    """Slots from each specialist's start ranges, specialists given in preference order.

    A sweep instead of a dict of starts: the starts of one phase (start mod step) form a grid,
    and along it the set of specialists only changes where one of their ranges begins or ends.
    """
    grids: dict[int, list[tuple[int, int, int]]] = {}
    for rank, (_, ranges) in enumerate(takers):
        for r in ranges:
            events = grids.setdefault(r.start % step, [])
            events.append((r.start, 1, rank))
            events.append((r.start + len(r) * step, 0, rank))  # ends sort before starts
    ids = [sid for sid, _ in takers]
    length, stride = timedelta(seconds=duration), timedelta(seconds=step)
    slots: list[Slot] = []
    for events in grids.values():
        events.sort()
        active: list[int] = []
        at = events[0][0]
        start = datetime.fromtimestamp(at, UTC)
        for point, begins, rank in events:
            if point > at:
                if active:
                    taker_ids = tuple([ids[r] for r in active])
                    # Adding a timedelta is far cheaper than making a datetime from a timestamp.
                    for _ in range((point - at) // step):
                        slots.append(Slot(start, start + length, taker_ids))
                        start += stride
                else:
                    start = datetime.fromtimestamp(point, UTC)
                at = point
            if begins:
                insort(active, rank)
            else:
                active.remove(rank)
    if len(grids) > 1:
        slots.sort(key=attrgetter("start"))
    return slots
