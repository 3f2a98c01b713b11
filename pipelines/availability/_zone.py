"""Local wall-clock time <-> UTC instants for one IANA zone, without a zoneinfo call per instant.

A ``ZoneTimeline`` samples the zone's UTC offset over a bounded span of UTC seconds and finds each
offset change by bisection, so the span becomes a few constant-offset segments. Every question the
engine asks (which local date is this instant, which instants read 09:00-17:00 on this date) is
then integer arithmetic and a ``bisect``.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from ._intervals import Span

DAY = 86_400
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Offsets stay within -12:00..+14:00; this margin bounds where a local date's instants can lie.
_MAX_ABS_OFFSET = 26 * 3600
# No zone has two offset changes within 6 hours that cancel out, so sampling this often and
# bisecting between differing samples finds every change.
_SAMPLE = 6 * 3600
# Changes are found in cached blocks of this many seconds, so recomputing a calendar's slots
# asks zoneinfo nothing after the first time.
_BLOCK = 16 * DAY


def epoch_day(d: date) -> int:
    return d.toordinal() - EPOCH_ORDINAL


def iso_weekday(day: int) -> int:
    """ISO weekday (1 = Monday) of an epoch day; 1970-01-01 was a Thursday."""
    return (day + 3) % 7 + 1


def _offset(zone: ZoneInfo, t: int) -> int:
    delta = datetime.fromtimestamp(t, zone).utcoffset()
    assert delta is not None
    return delta.days * DAY + delta.seconds


@lru_cache(maxsize=4096)
def _block_changes(key: str, block: int) -> tuple[tuple[int, int], ...]:
    """Offset changes ``(instant, new offset)`` in ``(block * _BLOCK, (block + 1) * _BLOCK]``."""
    zone = ZoneInfo(key)
    lo = block * _BLOCK
    changes: list[tuple[int, int]] = []
    t, off = lo, _offset(zone, lo)
    while t < lo + _BLOCK:
        nxt = min(t + _SAMPLE, lo + _BLOCK)
        nxt_off = _offset(zone, nxt)
        while off != nxt_off:
            # off(t) == off != off(nxt): find the first instant whose offset differs from off.
            a, b = t, nxt
            while b - a > 1:
                mid = (a + b) // 2
                if _offset(zone, mid) == off:
                    a = mid
                else:
                    b = mid
            off = _offset(zone, b)
            changes.append((b, off))
            t = b
        t = nxt
    return tuple(changes)


class ZoneTimeline:
    """The UTC offset of one zone, exact within ``[lo, hi)`` UTC seconds."""

    __slots__ = ("_starts", "_offsets")

    def __init__(self, key: str, lo: int, hi: int) -> None:
        starts = [lo]
        offsets = [_offset(ZoneInfo(key), lo)]
        for block in range(lo // _BLOCK, (hi - 1) // _BLOCK + 1):
            for at, off in _block_changes(key, block):
                if lo < at < hi and off != offsets[-1]:
                    starts.append(at)
                    offsets.append(off)
        self._starts = starts
        self._offsets = offsets

    def offset_at(self, t: int) -> int:
        return self._offsets[max(bisect_right(self._starts, t) - 1, 0)]

    def local_day(self, t: int) -> int:
        """Epoch day of the local date at instant ``t``."""
        return (t + self.offset_at(t)) // DAY

    def constant_offset(self, day: int) -> int | None:
        """The offset throughout local date ``day`` and the hours around it, if it has one."""
        starts = self._starts
        i = bisect_right(starts, day * DAY - _MAX_ABS_OFFSET)
        j = bisect_right(starts, (day + 1) * DAY + _MAX_ABS_OFFSET)
        return self._offsets[max(i - 1, 0)] if i == j else None

    def wall_to_utc(self, day: int, a: int, b: int) -> list[Span]:
        """Instants whose local date is ``day`` and wall clock reads within ``[a, b)`` seconds.

        Usually one span. In a spring-forward gap the missing wall times simply have no instants;
        in a fall-back repeat the repeated wall times have two, so the result may be two spans.
        """
        wall_lo, wall_hi = day * DAY + a, day * DAY + b
        starts, offsets = self._starts, self._offsets
        i = max(bisect_right(starts, wall_lo - _MAX_ABS_OFFSET) - 1, 0)
        out: list[Span] = []
        while i < len(starts) and starts[i] < wall_hi + _MAX_ABS_OFFSET:
            seg_lo = starts[i] if i else wall_lo - _MAX_ABS_OFFSET
            seg_hi = starts[i + 1] if i + 1 < len(starts) else wall_hi + _MAX_ABS_OFFSET
            lo = max(seg_lo, wall_lo - offsets[i])
            hi = min(seg_hi, wall_hi - offsets[i])
            if lo < hi:
                if out and out[-1][1] == lo:
                    out[-1] = (out[-1][0], hi)
                else:
                    out.append((lo, hi))
            i += 1
        return out
