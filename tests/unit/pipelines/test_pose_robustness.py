"""The tracker on the failure categories of issue 20, with cases from the adversarial generator
(bench/pose_adversarial: its own body, camera and corruptions, not the unit tests' synthetic
sets) and hand-made input faults: noise, shallow and hovering reps, bobbing, spikes, swaps,
occlusion, the far limb, framing, the aspect ratio, the wrong view, per-frame input faults."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench.pose_adversarial import CONDITIONS, Case, build, run_case
from pipelines.pose import (
    EXERCISES,
    ExerciseTracker,
    Faults,
    FormCue,
    PoseEvent,
    RepCounted,
    SyntheticOptions,
    TrackingLost,
    TrackingOk,
    synthesize_set,
)

BY_NAME = {c.name: c for c in CONDITIONS}


def case(condition: str, exercise: str, seed: int = 0) -> Case:
    return build(exercise, BY_NAME[condition], seed)


def run(condition: str, exercise: str, seed: int = 0) -> dict[str, Any]:
    return run_case(case(condition, exercise, seed))


@pytest.mark.parametrize("condition", ["shallow_2deg_noise_0.5%", "shallow_2deg_noise_1%"])
@pytest.mark.parametrize("exercise", ["squat", "biceps_curl", "standing_hip_abduction"])
def test_reps_stopping_short_of_the_threshold_never_count_under_noise(
    condition: str, exercise: str
) -> None:
    r = run(condition, exercise)
    assert r["counted"] == r["true"]


@pytest.mark.parametrize(
    ("exercise", "seeds"),
    [("biceps_curl", (4, 11)), ("shoulder_flexion", (1,)), ("standing_hip_abduction", (4, 5, 9))],
)
def test_no_shallow_rep_counts_at_one_percent_noise_on_the_seeds_that_once_did(
    exercise: str, seeds: tuple[int, ...]
) -> None:
    """Cases in which a margin of 0.6 of the noise counted a rep stopping 2 degrees short."""
    for seed in seeds:
        r = run("shallow_2deg_noise_1%", exercise, seed)
        assert r["counted"] == r["true"], seed


@pytest.mark.parametrize(
    ("exercise", "seeds"), [("biceps_curl", (1, 8, 9)), ("shoulder_flexion", (3, 15))]
)
def test_a_swap_that_began_unseen_costs_no_rep(exercise: str, seeds: tuple[int, ...]) -> None:
    """Cases in which a swap began while the arms overlapped, so its end was taken for a start
    and every later swap read the wrong way round: a rep was lost while the bound on a swap's
    length ran (1.2 s: all five; 0.9 s: biceps_curl seed 1 and shoulder_flexion seed 3, whose
    swaps span the turn). The torso's direction now tells which way the labels are."""
    for seed in seeds:
        r = run("lr_swaps", exercise, seed)
        assert r["counted"] == r["true"], seed


def test_a_swap_longer_than_the_bound_on_jumps_is_still_undone_by_the_torso() -> None:
    """biceps_curl seed 7: a swap of 29 frames (0.97 s); taking the torso's direction as learnt
    crossed after 0.9 s read the rest of the set's swaps the wrong way round and lost a rep."""
    r = run("lr_swaps", "biceps_curl", 7)
    assert r["counted"] == r["true"]


@pytest.mark.parametrize(("exercise", "seed"), [("squat", 4), ("squat", 9)])
def test_a_two_frame_turn_at_15_fps_is_not_taken_for_a_spike(exercise: str, seed: int) -> None:
    """Clean synthetic sets (the unit tests' generator) at 15 fps whose turn wobbles around the
    threshold: the spike median's 4-frame window took its upper middle value and hid a two-frame
    turn, losing a rep on a noise-free stream."""
    opts = SyntheticOptions(reps=6, fps=15.0, rep_ms=2800.0, pause_rest_ms=200.0, dither_deg=5.0)
    s = synthesize_set(exercise, opts, seed=seed)
    tracker = ExerciseTracker(EXERCISES[exercise].kinematics, 6, aspect_ratio=s.aspect_ratio)
    for i in range(0, len(s.t_ms), 5):
        tracker.feed(s.t_ms[i : i + 5], s.landmarks[i : i + 5])
    assert tracker.reps == s.true_reps


@pytest.mark.parametrize("exercise", ["squat", "shoulder_flexion"])
def test_hovering_just_short_of_the_threshold_counts_nothing(exercise: str) -> None:
    r = run("hover_noise_1%", exercise)
    assert r["counted"] == r["true"]


@pytest.mark.parametrize(
    "condition", ["bobbing_noise_0.5%", "spikes_15%", "holds_noise_0.5%", "fidgeting_noise_0.5%"]
)
def test_bobbing_spikes_holds_and_fidgeting_count_each_rep_once(condition: str) -> None:
    for exercise in ("squat", "standing_hip_abduction"):
        r = run(condition, exercise)
        assert r["counted"] == r["true"], exercise


@pytest.mark.parametrize("exercise", ["shoulder_flexion", "standing_hip_abduction"])
def test_left_right_swaps_count_no_phantom_rep(exercise: str) -> None:
    r = run("lr_swaps", exercise)
    assert r["counted"] == r["true"]


def test_the_range_of_motion_is_within_three_degrees_at_half_a_percent_of_noise() -> None:
    errors = [e for ex in ("squat", "biceps_curl") for e in run("noise_0.5%", ex)["rom_err"]]
    assert len(errors) == 12
    assert float(np.mean(np.abs(errors))) <= 3.0


def test_a_rep_reports_its_range_with_an_uncertainty_that_grows_with_noise() -> None:
    sds = []
    for condition in ("clean", "noise_1%"):
        c = case(condition, "squat")
        tracker = ExerciseTracker(EXERCISES["squat"].kinematics, 50, aspect_ratio=c.aspect)
        events = tracker.feed(c.t_ms[:900], c.landmarks[:900])
        rep = next(e for e in events if isinstance(e, RepCounted))
        assert "rom_sd_deg" in rep.data()
        sds.append(rep.rom_sd_deg)
    assert sds[0] < 0.5 < sds[1]


def test_the_measured_noise_follows_the_landmark_noise() -> None:
    sigmas = []
    for condition in ("clean", "noise_0.5%", "noise_2%"):
        c = case(condition, "squat")
        tracker = ExerciseTracker(EXERCISES["squat"].kinematics, 50, aspect_ratio=c.aspect)
        tracker.feed(c.t_ms[:600], c.landmarks[:600])
        sigmas.append(tracker.noise_deg)
    assert sigmas[0] < 1.0 < sigmas[1] < sigmas[2]


def test_a_half_second_occlusion_at_the_bottom_loses_no_rep() -> None:
    r = run("occlusion_bottom_0.5s", "squat")
    assert r["counted"] == r["true"]


def test_a_rep_whose_hidden_turn_is_found_looking_back_counts_without_a_range_cue() -> None:
    """standing_hip_abduction seed 1: around a turn hidden for half a second the smoothed angle
    never got past the threshold plus its margin (a rep lost); looking back, the raw samples on
    either side of the gap are past it. The range stops where the view did: no cue to move
    further on a turning point nobody saw."""
    r = run("occlusion_bottom_0.5s", "standing_hip_abduction", 1)
    assert r["counted"] == r["true"]
    assert "more_range" not in r["cues"]


def test_a_bilateral_exercise_is_read_from_the_near_limb_when_the_left_faces_away() -> None:
    r = run("far_limb_side_view", "squat")
    assert r["counted"] == r["true"] == 6


def test_a_one_arm_exercise_with_the_arm_facing_away_asks_to_turn_and_counts_nothing() -> None:
    r = run("far_limb_side_view", "biceps_curl")
    assert r["counted"] == 0
    assert r["cues"] == ["turn_side"]


def test_standing_too_close_asks_to_step_back_once() -> None:
    c = case("too_close_feet_out", "squat")
    tracker = ExerciseTracker(EXERCISES["squat"].kinematics, 50, aspect_ratio=c.aspect)
    events = [e for i in range(0, len(c.t_ms), 3) for e in tracker.feed(
        c.t_ms[i : i + 3], c.landmarks[i : i + 3])]  # fmt: skip
    codes = [e.code for e in events if isinstance(e, FormCue)]
    assert codes.count("step_back") == 1
    assert tracker.reps == 0


def test_a_tracker_made_without_an_aspect_ratio_says_so_and_works_it_out() -> None:
    """The library's own fallback (a session never makes one: it refuses such frames)."""
    c = case("aspect_omitted_16:9", "squat")
    assert c.aspect is None
    tracker = ExerciseTracker(EXERCISES["squat"].kinematics, 50, aspect_ratio=None)
    events = [e for i in range(0, len(c.t_ms), 3) for e in tracker.feed(
        c.t_ms[i : i + 3], c.landmarks[i : i + 3])]  # fmt: skip
    assert [e.code for e in events if isinstance(e, FormCue)][0] == "aspect_unknown"
    assert tracker.aspect_ratio == pytest.approx(16 / 9)
    assert c.true_reps - 1 <= tracker.reps <= c.true_reps  # the rep it learnt on may be lost


def test_a_session_refuses_a_sets_first_frames_without_the_aspect_ratio() -> None:
    """The adversarial condition as a client meets it: the session answers `aspect_required`,
    the client sends the ratio, and every rep counts."""
    r = run("aspect_omitted_16:9", "squat")
    assert r["cues"] == ["aspect_required"]
    assert r["counted"] == r["true"]


def test_counting_pauses_while_the_view_is_wrong_says_why_and_resumes() -> None:
    for exercise in ("squat", "standing_hip_abduction"):
        r = run("wrong_view_then_right", exercise)
        assert r["counted"] == r["true"] == 6, exercise
        assert "camera_view" in r["cues"]


def test_world_landmark_noise_of_three_centimetres_raises_no_false_knees_out() -> None:
    for faults, expected in ((Faults(), 0), (Faults(knee_valgus_deg=25.0), 1)):
        s = synthesize_set("squat", SyntheticOptions(reps=5, world=True, faults=faults), seed=0)
        assert s.world_landmarks is not None
        world = s.world_landmarks.copy()
        world[..., :3] += np.random.default_rng(0).normal(0.0, 0.03, world[..., :3].shape)
        tracker = ExerciseTracker(EXERCISES["squat"].kinematics, 5, aspect_ratio=s.aspect_ratio)
        events = [e for i in range(0, len(s.t_ms), 3) for e in tracker.feed(
            s.t_ms[i : i + 3], s.landmarks[i : i + 3], world[i : i + 3])]  # fmt: skip
        fired = [e for e in events if isinstance(e, FormCue) and e.code == "knees_out"]
        assert (len(fired) > 0) == bool(expected)
        # Full reps: the noisy range is not a reason to ask for more range.
        assert not [e for e in events if isinstance(e, FormCue) and e.code == "more_range"]


# --- per-frame input faults -----------------------------------------------------------------


def feed_all(tracker: ExerciseTracker, t: Any, lm: Any, size: int = 3) -> list[PoseEvent]:
    return [
        e for i in range(0, len(t), size) for e in tracker.feed(t[i : i + size], lm[i : i + size])
    ]


def squat_set() -> tuple[ExerciseTracker, Any, Any]:
    s = synthesize_set("squat", SyntheticOptions(reps=4), seed=3)
    return (
        ExerciseTracker(EXERCISES["squat"].kinematics, 10, aspect_ratio=s.aspect_ratio),
        s.t_ms,
        s.landmarks,
    )


def test_duplicated_and_late_frames_are_dropped_one_by_one() -> None:
    tracker, t, lm = squat_set()
    reference = feed_all(
        ExerciseTracker(tracker.kinematics, 10, aspect_ratio=tracker.aspect_ratio), t, lm
    )
    order = np.arange(len(t))
    order = np.insert(order, [50, 120, 121], [49, 118, 119])  # a repeat and two late frames
    events = feed_all(tracker, t[order], lm[order])
    assert [e for e in events if isinstance(e, RepCounted)] == [
        e for e in reference if isinstance(e, RepCounted)
    ]
    batch = tracker.feed(np.array([t[-1], t[-1]]), lm[-2:])
    assert batch == [] and np.isnan(tracker.angles).all() and len(tracker.angles) == 2


def test_nan_landmarks_are_not_seen_and_say_tracking_lost_instead_of_a_refusal() -> None:
    tracker, t, lm = squat_set()
    lm = lm.copy()
    lm[40:52] = np.nan
    events = feed_all(tracker, t, lm)
    gating = [type(e) for e in events if isinstance(e, TrackingLost | TrackingOk)]
    assert gating == [TrackingLost, TrackingOk]
    assert tracker.reps == 4


def test_a_restarted_clock_starts_a_new_time_base_and_the_set_goes_on() -> None:
    tracker, t, lm = squat_set()
    half = len(t) // 2
    t2 = t.copy()
    t2[half:] = t[half:] - t[half] + 120.0  # a page reload: the clock starts again near 0
    events = feed_all(tracker, t2, lm)
    assert sum(isinstance(e, RepCounted) for e in events) == 4
    assert tracker.last_t_ms is not None and tracker.last_t_ms > t[half - 1]


def test_a_snapshot_mid_set_under_noise_and_swaps_continues_exactly() -> None:
    c = case("lr_swaps", "standing_hip_abduction")
    whole = ExerciseTracker(EXERCISES[c.exercise].kinematics, 50, aspect_ratio=c.aspect)
    reference = feed_all(whole, c.t_ms, c.landmarks)
    first = ExerciseTracker(EXERCISES[c.exercise].kinematics, 50, aspect_ratio=c.aspect)
    cut = 300
    events = feed_all(first, c.t_ms[:cut], c.landmarks[:cut])
    second = ExerciseTracker(EXERCISES[c.exercise].kinematics, 50, aspect_ratio=c.aspect)
    second.restore(first.snapshot())
    events += feed_all(second, c.t_ms[cut:], c.landmarks[cut:])
    assert events == reference
