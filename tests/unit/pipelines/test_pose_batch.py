"""Measuring many trackers' frames in one pass (what a pose worker does per round trip) gives
each tracker exactly what it would have measured alone, and a tracker fed with such a hint
counts, cues and snapshots exactly as without it; a hint that no longer fits is ignored."""

from __future__ import annotations

import numpy as np

from pipelines.pose import (
    EXERCISES,
    ExerciseTracker,
    Faults,
    PoseEvent,
    SyntheticOptions,
    SyntheticSet,
    measure_together,
    synthesize_set,
)


def sessions() -> list[tuple[ExerciseTracker, SyntheticSet]]:
    """Two exercises, two aspect ratios, jitter, occlusions and form faults: several geometry
    groups, some with more than one member."""
    out = []
    for k, slug in enumerate(list(EXERCISES)[:2] * 3):
        aspect = 16 / 9 if k % 3 else 4 / 3
        faults = Faults(trunk_lean_deg=25.0) if k % 2 else Faults()
        opts = SyntheticOptions(
            reps=4, aspect_ratio=aspect, noise_deg=2.0, occlusions=1, faults=faults
        )
        s = synthesize_set(slug, opts, seed=20 + k)
        out.append((ExerciseTracker(EXERCISES[slug].kinematics, 4, aspect_ratio=aspect), s))
    return out


def test_joint_measures_equal_each_trackers_own() -> None:
    items = []
    for tracker, s in sessions():
        items.append((tracker, tracker.validate(s.t_ms[:3], s.landmarks[:3])))
    for (tracker, frames), hint in zip(items, measure_together(items), strict=True):
        alone = tracker.measure(frames)
        assert hint.tracker is tracker and hint.frames is frames
        assert hint.measures.trackable == alone.trackable
        np.testing.assert_array_equal(hint.measures.channels, alone.channels)
        np.testing.assert_array_equal(hint.measures.ratios, alone.ratios)


def test_trackers_fed_with_joint_measures_behave_exactly_as_alone() -> None:
    hinted, plain = sessions(), sessions()
    length = min(len(s.t_ms) for _, s in hinted)
    seen_hinted: list[list[PoseEvent]] = [[] for _ in hinted]
    seen_plain: list[list[PoseEvent]] = [[] for _ in plain]
    for i in range(0, length, 3):
        j = min(i + 3, length)
        items = [(t, t.validate(s.t_ms[i:j], s.landmarks[i:j])) for t, s in hinted]
        for k, ((tracker, s), hint) in enumerate(zip(hinted, measure_together(items), strict=True)):
            seen_hinted[k] += tracker.feed(s.t_ms[i:j], s.landmarks[i:j], measured=hint)
        for k, (tracker, s) in enumerate(plain):
            seen_plain[k] += tracker.feed(s.t_ms[i:j], s.landmarks[i:j])
    assert seen_hinted == seen_plain
    assert any(seen_plain)
    for (a, _), (b, _) in zip(hinted, plain, strict=True):
        assert a.snapshot() == b.snapshot()


def test_a_hint_for_another_state_or_tracker_is_ignored() -> None:
    (tracker, s), (other, _) = sessions()[:2]
    early = measure_together([(tracker, tracker.validate(s.t_ms[:3], s.landmarks[:3]))])[0]
    tracker.feed(s.t_ms[:3], s.landmarks[:3])
    # stale: the tracker moved on since the hint was made, so these frames are measured afresh
    tracker.feed(s.t_ms[3:6], s.landmarks[3:6], measured=early)
    assert tracker.last_t_ms == float(s.t_ms[5])
    foreign = measure_together([(other, other.validate(s.t_ms[6:9], s.landmarks[6:9]))])[0]
    tracker.feed(s.t_ms[6:9], s.landmarks[6:9], measured=foreign)
    assert tracker.last_t_ms == float(s.t_ms[8])
