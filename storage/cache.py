"""Bounded in-process caches, each with its metrics (entries, hits and misses by cache name).

Used where a hot path would otherwise pay a network round trip or a cryptographic check for an
answer it already had a moment ago. Every entry has a deadline; the oldest entry is evicted when
the cache is full, so memory stays bounded whatever the callers send.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable, Iterator
from typing import Generic, TypeVar

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_CACHES: weakref.WeakSet[BoundedCache[object, object]] = weakref.WeakSet()


class _CacheCollector(Collector):
    """Reads the caches' plain counters at scrape time: a lookup on a hot path costs an integer
    increment, not a locked metric update."""

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        entries = GaugeMetricFamily(
            "cadence_cache_entries", "Entries in an in-process cache", labels=["cache"]
        )
        lookups = CounterMetricFamily(
            "cadence_cache_lookups", "Lookups in an in-process cache", labels=["cache", "outcome"]
        )
        totals: dict[str, list[int]] = {}
        for cache in list(_CACHES):
            t = totals.setdefault(cache.name, [0, 0, 0])
            t[0] += len(cache)
            t[1] += cache.hits
            t[2] += cache.misses
        for name, (size, hits, misses) in sorted(totals.items()):
            entries.add_metric([name], size)
            lookups.add_metric([name, "hit"], hits)
            lookups.add_metric([name, "miss"], misses)
        yield entries
        yield lookups


REGISTRY.register(_CacheCollector())


class BoundedCache(Generic[K, V]):
    """At most `size` entries, each valid until its own deadline (`clock()` seconds)."""

    def __init__(
        self, name: str, size: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.hits = 0
        self.misses = 0
        self._entries: dict[K, tuple[V, float]] = {}
        self._size = size
        self._clock = clock
        _CACHES.add(self)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is not None:
            if self._clock() < entry[1]:
                self.hits += 1
                return entry[0]
            del self._entries[key]
        self.misses += 1
        return None

    def put(self, key: K, value: V, until: float) -> None:
        """Keep `value` until the clock reaches `until`."""
        if key not in self._entries and len(self._entries) >= self._size:
            # Dicts keep insertion order: the first key is the oldest entry.
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (value, until)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
