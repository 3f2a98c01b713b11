"""The ``slots.changed`` delta between two slot lists."""

from __future__ import annotations

from collections.abc import Iterable

from ._model import RemovedSlot, Slot


def diff_slots(old: Iterable[Slot], new: Iterable[Slot]) -> tuple[list[Slot], list[RemovedSlot]]:
    """``(upserted, removed)``, both sorted by start, that turn ``old`` into ``new``.

    Slots are keyed by start (PROTOCOL.md: an upserted entry replaces the entry with the same
    start): ``upserted`` holds each slot of ``new`` that is missing from ``old`` or differs from it
    (end or specialists, order included); ``removed`` each start of ``old`` absent from ``new``.
    Applying both to ``old`` gives ``new`` exactly.
    """
    before = {s.start: s for s in old}
    after = {s.start: s for s in new}
    upserted = [s for start, s in after.items() if before.get(start) != s]
    removed = [RemovedSlot(s.start, s.end) for start, s in before.items() if start not in after]
    upserted.sort(key=lambda s: s.start)
    removed.sort(key=lambda s: s.start)
    return upserted, removed
