"""ExerciseTracker end to end on synthetic sets: counting, cues, gating, input checks, restarts."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from pipelines.pose import (
    EXERCISES,
    CameraView,
    CueCooldown,
    EventKind,
    ExerciseTracker,
    Faults,
    FormCue,
    PoseEvent,
    PoseInputError,
    RepCounted,
    Severity,
    SyntheticOptions,
    SyntheticSet,
    TrackingLost,
    TrackingOk,
    synthesize_set,
)
from pipelines.pose._cues import Cue
from pipelines.pose._landmarks import mirror


def tracker_for(slug: str, synthetic: SyntheticSet, target: int = 5) -> ExerciseTracker:
    return ExerciseTracker(EXERCISES[slug].kinematics, target, aspect_ratio=synthetic.aspect_ratio)


def feed(
    tracker: ExerciseTracker, synthetic: SyntheticSet, start: int = 0, stop: int | None = None
) -> list[PoseEvent]:
    events: list[PoseEvent] = []
    stop = len(synthetic.t_ms) if stop is None else stop
    world = synthetic.world_landmarks
    for i in range(start, stop, 5):
        j = min(i + 5, stop)
        events += tracker.feed(
            synthetic.t_ms[i:j], synthetic.landmarks[i:j], None if world is None else world[i:j]
        )
    return events


def cues(events: list[PoseEvent]) -> list[FormCue]:
    return [e for e in events if isinstance(e, FormCue)]


@pytest.mark.parametrize("slug", sorted(EXERCISES))
def test_a_clean_set_counts_every_rep_and_raises_no_cue(slug: str) -> None:
    synthetic = synthesize_set(slug, SyntheticOptions(reps=4), seed=11)
    tracker = tracker_for(slug, synthetic, target=4)
    events = feed(tracker, synthetic)
    reps = [e for e in events if isinstance(e, RepCounted)]
    assert [r.rep for r in reps] == [1, 2, 3, 4]
    assert tracker.complete
    assert events == reps
    target = EXERCISES[slug].kinematics.target_rom_deg
    assert all(r.rom_deg >= target for r in reps)


def test_rep_events_carry_the_protocol_payload() -> None:
    synthetic = synthesize_set("squat", SyntheticOptions(reps=1), seed=1)
    (rep,) = feed(tracker_for("squat", synthetic), synthetic)
    assert rep.kind is EventKind.REP_COUNTED
    assert set(rep.data()) >= {"rep", "rom_deg", "duration_ms"}
    assert json.dumps(rep.data())


@pytest.mark.parametrize(
    ("slug", "options", "code"),
    [
        ("squat", SyntheticOptions(faults=Faults(trunk_lean_deg=25.0)), "chest_up"),
        ("squat", SyntheticOptions(world=True, faults=Faults(knee_valgus_deg=25.0)), "knees_out"),
        ("shoulder_abduction", SyntheticOptions(faults=Faults(asymmetry_deg=35.0)), "arms_even"),
        (
            "standing_hip_abduction",
            SyntheticOptions(faults=Faults(trunk_lean_deg=15.0)),
            "trunk_upright",
        ),
        ("shoulder_flexion", SyntheticOptions(faults=Faults(trunk_lean_deg=20.0)), "back_still"),
        ("squat", SyntheticOptions(view=CameraView.FRONT), "camera_view"),
        ("shoulder_abduction", SyntheticOptions(view=CameraView.SIDE), "camera_view"),
        ("squat", SyntheticOptions(rep_ms=900.0), "tempo_too_fast"),
        ("glute_bridge", SyntheticOptions(pause_turn_ms=0.0), "hold_longer"),
    ],
)
def test_faults_raise_their_cue(slug: str, options: SyntheticOptions, code: str) -> None:
    synthetic = synthesize_set(slug, options, seed=5)
    assert code in {c.code for c in cues(feed(tracker_for(slug, synthetic), synthetic))}


def test_knee_valgus_is_not_judged_from_a_side_view_in_2d() -> None:
    options = SyntheticOptions(faults=Faults(knee_valgus_deg=25.0))
    synthetic = synthesize_set("squat", options, seed=5)
    assert "knees_out" not in {
        c.code for c in cues(feed(tracker_for("squat", synthetic), synthetic))
    }


def test_cue_cooldown_speaks_the_most_severe_one_at_a_time() -> None:
    lean = Cue("lean", "Lean less", Severity.INFO)
    knees = Cue("knees", "Knees out", Severity.WARNING)
    cooldown = CueCooldown(cooldown_ms=3000.0, repeat_ms=10000.0)
    assert cooldown.pick(0.0, [lean, knees]) == knees
    assert cooldown.pick(1000.0, [lean]) is None  # global cooldown
    assert cooldown.pick(3000.0, [knees]) is None  # per-code repeat
    assert cooldown.pick(3000.0, [knees, lean]) == lean
    assert cooldown.pick(10000.0, [knees]) == knees
    assert cooldown.pick(12000.0, [knees]) is None


def test_tracker_cues_respect_the_cooldown() -> None:
    faults = Faults(trunk_lean_deg=25.0, knee_valgus_deg=25.0)
    synthetic = synthesize_set("squat", SyntheticOptions(reps=8, world=True, faults=faults), 3)
    spoken = cues(feed(tracker_for("squat", synthetic), synthetic))
    assert {c.code for c in spoken} == {"chest_up", "knees_out"}
    times = [c.t_ms for c in spoken]
    assert all(b - a >= 3000.0 for a, b in zip(times, times[1:], strict=False))
    for code in ("chest_up", "knees_out"):
        same = [c.t_ms for c in spoken if c.code == code]
        assert all(b - a >= 10000.0 for a, b in zip(same, same[1:], strict=False))


def test_occlusions_give_one_lost_ok_pair_each_and_lose_no_rep() -> None:
    options = SyntheticOptions(reps=5, occlusions=2, noise_deg=3.0)
    synthetic = synthesize_set("squat", options, seed=8)
    tracker = tracker_for("squat", synthetic)
    events = feed(tracker, synthetic)
    gating = [e.kind for e in events if isinstance(e, TrackingLost | TrackingOk)]
    assert gating == [EventKind.TRACKING_LOST, EventKind.TRACKING_OK] * 2
    assert tracker.reps == 5


def hide_driving(synthetic: SyntheticSet, slug: str, mask: npt.NDArray[np.bool_]) -> SyntheticSet:
    landmarks = synthetic.landmarks.copy()
    # Both sides: the tracker reads the mirrored limb when the prescribed one is hidden and
    # the two move together, so hiding one side no longer hides the movement.
    triples = np.array(EXERCISES[slug].kinematics.driving.triples())
    for index in np.unique(np.concatenate([triples, np.vectorize(mirror)(triples)])):
        landmarks[mask, index, 3] = 0.1
        landmarks[mask, index, 0] += 0.2  # hidden landmarks are also wrong
    return SyntheticSet(
        synthetic.t_ms,
        landmarks,
        None,
        synthetic.true_angle,
        synthetic.curve_deg,
        synthetic.visible & ~mask,
        synthetic.true_reps,
        synthetic.aspect_ratio,
    )


def test_a_rep_done_out_of_sight_is_not_counted() -> None:
    synthetic = synthesize_set("squat", SyntheticOptions(reps=3, pause_rest_ms=1000), seed=2)
    bottoms = np.flatnonzero(synthetic.curve_deg < 100.0)
    second = np.split(bottoms, np.flatnonzero(np.diff(bottoms) > 1) + 1)[1]  # 2nd rep's turn
    t = synthetic.t_ms
    hidden = (t >= t[second[0]] - 800.0) & (t <= t[second[-1]] + 800.0)
    tracker = tracker_for("squat", synthetic)
    events = feed(tracker, hide_driving(synthetic, "squat", hidden))
    assert tracker.reps == 2
    assert [e.kind for e in events if not isinstance(e, RepCounted | FormCue)] == [
        EventKind.TRACKING_LOST,
        EventKind.TRACKING_OK,
    ]


def test_flickering_visibility_gives_a_single_lost_ok_pair() -> None:
    options = SyntheticOptions(reps=3, pause_rest_ms=4000.0)
    synthetic = synthesize_set("biceps_curl", options, seed=4)
    flicker = np.zeros(len(synthetic.t_ms), dtype=bool)
    flicker[20:60:2] = True  # every other frame for about 1.3 s, at rest
    hidden = hide_driving(synthetic, "biceps_curl", flicker)
    events = feed(tracker_for("biceps_curl", synthetic), hidden)
    gating = [e for e in events if isinstance(e, TrackingLost | TrackingOk)]
    assert [e.kind for e in gating] == [EventKind.TRACKING_LOST, EventKind.TRACKING_OK]
    assert gating[1].t_ms - synthetic.t_ms[58] >= 250.0
    assert sum(isinstance(e, RepCounted) for e in events) == 3


def bad_batches(
    t: npt.NDArray[np.float64], lm: npt.NDArray[np.float64], last_t: float
) -> list[tuple[str, Any, Any, Any]]:
    over = lm.copy()
    over[0, 5, 3] = 1.2
    under = lm.copy()
    under[0, 5, 3] = -0.1
    return [
        ("bad_shape", t, lm[..., :3], None),
        ("bad_shape", t, lm[:, :32], None),
        ("bad_shape", t[:-1], lm, None),
        ("bad_shape", t[:, None], lm, None),
        ("bad_shape", t, lm, lm[:, :, :2]),
        ("bad_type", t, [["x"] * 4] * 33, None),
        ("bad_visibility", t, over, None),
        ("bad_visibility", t, under, None),
        ("batch_too_large", np.arange(2000.0), np.zeros((2000, 33, 4)), None),
    ]


def test_bad_input_is_refused_and_leaves_the_state_untouched() -> None:
    options = SyntheticOptions(reps=4, noise_deg=3.0, dither_deg=5.0)
    synthetic = synthesize_set("squat", options, seed=9)
    reference = feed(tracker_for("squat", synthetic), synthetic)
    tracker = tracker_for("squat", synthetic)
    cut = 160
    events = feed(tracker, synthetic, 0, cut)
    before = tracker.snapshot()
    t, lm = synthetic.t_ms[cut : cut + 5], synthetic.landmarks[cut : cut + 5]
    for code, bad_t, bad_lm, world in bad_batches(t, lm, float(synthetic.t_ms[cut - 1])):
        with pytest.raises(PoseInputError) as raised:
            tracker.feed(bad_t, bad_lm, world)
        assert raised.value.code == code
        assert tracker.snapshot() == before
    events += feed(tracker, synthetic, cut)
    assert events == reference


def test_an_empty_batch_is_fine() -> None:
    tracker = ExerciseTracker(EXERCISES["squat"].kinematics, 5)
    assert tracker.feed(np.empty(0), np.empty((0, 33, 4))) == []


@pytest.mark.parametrize("cut", [97, 205, 333, 470])
def test_restoring_a_snapshot_mid_set_equals_an_uninterrupted_run(cut: int) -> None:
    options = SyntheticOptions(
        reps=6,
        noise_deg=3.0,
        dither_deg=5.0,
        occlusions=1,
        partial_reps=1,
        drop_rate=0.1,
        faults=Faults(trunk_lean_deg=22.0),
    )
    synthetic = synthesize_set("squat", options, seed=21)
    reference = feed(tracker_for("squat", synthetic), synthetic)
    first = tracker_for("squat", synthetic)
    events = feed(first, synthetic, 0, cut)
    stored = json.loads(json.dumps(first.snapshot()))
    second = tracker_for("squat", synthetic)
    second.restore(stored)
    events += feed(second, synthetic, cut)
    assert events == reference
    assert second.reps == synthetic.true_reps


def test_a_snapshot_of_another_exercise_or_a_broken_one_is_refused() -> None:
    synthetic = synthesize_set("squat", SyntheticOptions(reps=2), seed=1)
    tracker = tracker_for("squat", synthetic)
    feed(tracker, synthetic, 0, 100)
    snapshot = tracker.snapshot()
    other = ExerciseTracker(EXERCISES["forward_lunge"].kinematics, 5)
    with pytest.raises(ValueError, match="different exercise"):
        other.restore(snapshot)
    broken = json.loads(json.dumps(snapshot))
    broken["counter"]["count"] = -3
    fresh = tracker_for("squat", synthetic)
    untouched = fresh.snapshot()
    with pytest.raises(ValueError, match="malformed"):
        fresh.restore(broken)
    assert fresh.snapshot() == untouched
    del broken["gate"]
    with pytest.raises(ValueError, match="malformed"):
        fresh.restore(broken)


# A live session's tracker saved by the tracker before snapshot version 2 (commit 3c8328f^),
# 200 frames into synthesize_set("squat", SyntheticOptions(reps=4), seed=3) fed three frames an
# op: one rep counted, the second on its way back up.
V1_SNAPSHOT: dict[str, Any] = {
    "v": 1,
    "definition": "09536d6bc8313d99",
    "last_t": 1732000006632.0,
    "filter": {
        "x": [117.55757136575045, 28.352530817099023, 0.0],
        "dx": [86.4963071375399, -45.96812821714629, 0.0],
        "t": [1732000006632.0, 1732000006632.0, 0.0],
        "live": [True, True, False],
    },
    "counter": {
        "phase": "return",
        "count": 1,
        "partials": 0,
        "zone": "middle",
        "candidate": None,
        "candidate_t": 1732000006402.0,
        "left_t": 1732000004930.0,
        "turn_t": 1732000005700.0,
        "hold": 702.0,
        "lo": 89.01515075776753,
        "hi": 171.73249561889733,
    },
    "gate": {"state": "tracking", "lost_at": 0.0, "visible_since": None},
    "form": {"since": [None, None]},
    "view": {"wrong_since": None},
    "cues": {"last_t": None, "by_code": {}},
}


def test_a_version_1_snapshot_saved_before_a_deploy_restores_and_the_set_goes_on() -> None:
    synthetic = synthesize_set("squat", SyntheticOptions(reps=4), seed=3)
    reference = [e for e in feed(tracker_for("squat", synthetic, 10), synthetic)
                 if isinstance(e, RepCounted)]  # fmt: skip
    tracker = tracker_for("squat", synthetic, 10)
    tracker.restore(V1_SNAPSHOT)
    assert tracker.reps == 1 and tracker.last_t_ms == V1_SNAPSHOT["last_t"]
    reps = [e for e in feed(tracker, synthetic, 200) if isinstance(e, RepCounted)]
    assert [e.rep for e in reps] == [2, 3, 4] == [e.rep for e in reference[1:]]
    # The rep in progress keeps the range seen before the snapshot, not just what followed it.
    assert reps[0].rom_deg == pytest.approx(reference[1].rom_deg, abs=3.0)
    again = tracker_for("squat", synthetic, 10)
    again.restore(json.loads(json.dumps(tracker.snapshot())))  # and saves as version 2
    assert again.snapshot()["v"] == 2 and again.reps == 4


def test_a_version_1_snapshot_of_another_exercise_or_an_unknown_version_is_refused() -> None:
    other = ExerciseTracker(EXERCISES["forward_lunge"].kinematics, 5)
    with pytest.raises(ValueError, match="different exercise"):
        other.restore(V1_SNAPSHOT)
    squat = ExerciseTracker(EXERCISES["squat"].kinematics, 5)
    with pytest.raises(ValueError, match="version"):
        squat.restore({**V1_SNAPSHOT, "v": 3})
    broken = json.loads(json.dumps(V1_SNAPSHOT))
    del broken["counter"]["phase"]
    with pytest.raises(ValueError, match="malformed"):
        squat.restore(broken)


def test_world_landmarks_give_the_same_count() -> None:
    options = SyntheticOptions(reps=4, world=True, noise_deg=3.0)
    synthetic = synthesize_set("sit_to_stand", options, seed=6)
    tracker = tracker_for("sit_to_stand", synthetic)
    feed(tracker, synthetic)
    assert tracker.reps == 4
