"""Measuring the frames of many trackers at once.

A pose worker gets, per round trip, one small batch (one to three frames) from each of dozens
of sessions. The geometry of ``ExerciseTracker.measure`` costs about the same for one frame as
for a hundred (numpy's per-call overhead dominates), so the frames of every tracker with the
same geometry (exercise definition, aspect ratio, visibility threshold; image landmarks only)
are joined, measured in one pass and split back. The stateful per-frame part stays per tracker.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._input import Frames
from ._tracker import ExerciseTracker, Measured, Measures


def measure_together(items: Sequence[tuple[ExerciseTracker, Frames]]) -> list[Measured]:
    """One ``Measured`` per (tracker, validated non-empty frames), in order; equal to what each
    tracker's own ``measure`` gives for its frames."""
    out: list[Measured | None] = [None] * len(items)
    groups: dict[tuple[str, float, float], list[int]] = {}
    for i, (tracker, frames) in enumerate(items):
        if frames.world is None:
            groups.setdefault(tracker.geometry, []).append(i)
        else:  # world landmarks are rare (3-D capable devices): measured on their own
            out[i] = _measured(tracker, frames, tracker.measure(frames))
    for members in groups.values():
        first = items[members[0]][0]
        parts = [items[i][1] for i in members]
        if len(members) == 1:
            out[members[0]] = _measured(first, parts[0], first.measure(parts[0]))
            continue
        joined = Frames(
            np.concatenate([f.t_ms for f in parts]), np.concatenate([f.image for f in parts]), None
        )
        every = first.measure(joined)
        start = 0
        for i, frames in zip(members, parts, strict=True):
            stop = start + len(frames)
            out[i] = _measured(items[i][0], frames, every.part(start, stop))
            start = stop
    return [m for m in out if m is not None]


def _measured(tracker: ExerciseTracker, frames: Frames, measures: Measures) -> Measured:
    return Measured(tracker, tracker.last_t_ms, frames, measures)
