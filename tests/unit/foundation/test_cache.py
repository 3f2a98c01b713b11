"""The bounded in-process cache: deadlines, eviction of the oldest entry, and its metrics."""

from __future__ import annotations

from prometheus_client import REGISTRY

from storage.cache import BoundedCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _sample(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


def test_an_entry_is_served_until_its_deadline_and_not_after() -> None:
    clock = Clock()
    cache: BoundedCache[str, int] = BoundedCache("unit_deadline", 10, clock=clock)
    cache.put("a", 1, until=clock.now + 5)
    assert cache.get("a") == 1
    clock.now += 4.999
    assert cache.get("a") == 1
    clock.now += 0.001
    assert cache.get("a") is None
    assert len(cache) == 0  # the expired entry is gone, not just hidden


def test_a_full_cache_evicts_its_oldest_entry() -> None:
    cache: BoundedCache[int, int] = BoundedCache("unit_evict", 3, clock=Clock())
    for i in range(5):
        cache.put(i, i, until=1e9)
    assert len(cache) == 3
    assert [cache.get(i) for i in range(5)] == [None, None, 2, 3, 4]
    cache.put(4, 40, until=1e9)  # replacing a present key evicts nothing
    assert len(cache) == 3 and cache.get(2) == 2


def test_entries_hits_and_misses_are_exposed_per_cache() -> None:
    cache: BoundedCache[str, str] = BoundedCache("unit_counts", 2, clock=Clock())
    cache.get("x")
    cache.put("x", "y", until=1e9)
    cache.get("x")
    cache.get("x")
    cache.discard("x")
    cache.get("x")
    cache.put("z", "z", until=1e9)
    assert _sample("cadence_cache_lookups_total", cache="unit_counts", outcome="hit") == 2
    assert _sample("cadence_cache_lookups_total", cache="unit_counts", outcome="miss") == 2
    assert _sample("cadence_cache_entries", cache="unit_counts") == 1
