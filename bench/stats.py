"""Percentiles, latency over time and CPU accounting shared by the scenarios."""

from __future__ import annotations

import random
import resource
import time
from collections.abc import Iterable, Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def timeline(
    points: Iterable[tuple[float, float]], bucket_s: float = 1.0
) -> dict[str, list[float]]:
    """(seconds since start, latency ms) pairs -> p50/p95/p99 per bucket, for plots over time."""
    buckets: dict[int, list[float]] = {}
    for t, ms in points:
        buckets.setdefault(int(t // bucket_s), []).append(ms)
    out: dict[str, list[float]] = {"t": [], "p50": [], "p95": [], "p99": [], "n": []}
    for b in sorted(buckets):
        values = sorted(buckets[b])
        out["t"].append(b * bucket_s)
        for q in (50, 95, 99):
            out[f"p{q}"].append(percentile(values, q))
        out["n"].append(float(len(values)))
    return out


class Recorder:
    """Latency samples with their time since start; a reservoir bounds memory on long runs while
    keeping every part of the run equally represented."""

    def __init__(self, cap: int = 50_000, seed: int = 0) -> None:
        self.cap = cap
        self.count = 0
        self.points: list[tuple[float, float]] = []
        self.t0 = time.perf_counter()
        self._rng = random.Random(seed)

    def add(self, ms: float, at: float | None = None) -> None:
        t = (time.perf_counter() if at is None else at) - self.t0
        self.count += 1
        if len(self.points) < self.cap:
            self.points.append((t, ms))
        else:
            j = self._rng.randrange(self.count)
            if j < self.cap:
                self.points[j] = (t, ms)

    @property
    def latencies(self) -> list[float]:
        return [ms for _, ms in self.points]

    def percentile(self, q: float) -> float:
        return percentile(self.latencies, q)

    def timeline(self, bucket_s: float = 1.0) -> dict[str, list[float]]:
        return timeline(self.points, bucket_s)


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
