"""Percentiles and CPU accounting shared by the scenarios."""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class CpuMeter:
    """CPU use of this process between start() and stop(), as % of one core."""

    def start(self) -> None:
        self._wall = time.monotonic()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self._cpu = usage.ru_utime + usage.ru_stime

    def stop(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        wall = max(time.monotonic() - self._wall, 1e-9)
        return 100.0 * (usage.ru_utime + usage.ru_stime - self._cpu) / wall
