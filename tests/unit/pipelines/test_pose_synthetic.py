"""The synthetic skeleton generator: its ground truth must be true before it can judge anything."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.pose import (
    EXERCISES,
    Direction,
    Landmark,
    RepCounter,
    RepRules,
    SyntheticOptions,
    joint_angles,
    synthesize_set,
)
from pipelines.pose._motions import MOTIONS

SLUGS = sorted(EXERCISES)
L = Landmark


@pytest.mark.parametrize("slug", SLUGS)
def test_the_driving_angle_seen_by_the_camera_is_the_scripted_curve(slug: str) -> None:
    synthetic = synthesize_set(slug, SyntheticOptions(reps=2, partial_reps=1), seed=1)
    assert np.max(np.abs(synthetic.true_angle - synthetic.curve_deg)) < 1e-6
    triples = np.array(EXERCISES[slug].kinematics.driving.triples(), dtype=np.intp)
    image = synthetic.landmarks[..., :2] * np.array([synthetic.aspect_ratio, 1.0])
    measured = joint_angles(image, triples).mean(axis=1)
    assert np.max(np.abs(measured - synthetic.curve_deg)) < 1e-6


@pytest.mark.parametrize("slug", SLUGS)
def test_segments_keep_their_length(slug: str) -> None:
    synthetic = synthesize_set(slug, SyntheticOptions(reps=2, world=True), seed=2)
    assert synthetic.world_landmarks is not None
    world = synthetic.world_landmarks[..., :3]
    for a, b in [
        (L.LEFT_HIP, L.LEFT_KNEE),
        (L.LEFT_KNEE, L.LEFT_ANKLE),
        (L.LEFT_SHOULDER, L.LEFT_ELBOW),
        (L.LEFT_ELBOW, L.LEFT_WRIST),
        (L.LEFT_HIP, L.RIGHT_HIP),
    ]:
        length = np.linalg.norm(world[:, a] - world[:, b], axis=-1)
        assert np.ptp(length) < 1e-6, (a, b)


@pytest.mark.parametrize("slug", ["squat", "heel_raise", "shoulder_abduction", "glute_bridge"])
def test_jitter_is_scaled_to_three_degrees_of_angle_noise(slug: str) -> None:
    synthetic = synthesize_set(slug, SyntheticOptions(reps=3, noise_deg=3.0), seed=3)
    kinematics = EXERCISES[slug].kinematics
    triple = np.array(kinematics.driving.triples()[:1], dtype=np.intp)
    image = synthetic.landmarks[..., :2] * np.array([synthetic.aspect_ratio, 1.0])
    clean = synthesize_set(slug, SyntheticOptions(reps=3), seed=3)
    clean_image = clean.landmarks[..., :2] * np.array([clean.aspect_ratio, 1.0])
    error = joint_angles(image, triple)[:, 0] - joint_angles(clean_image, triple)[:, 0]
    assert 2.5 <= np.std(error) <= 3.5


@pytest.mark.parametrize("slug", SLUGS)
def test_rest_and_turn_clear_the_thresholds_and_partials_stop_between(slug: str) -> None:
    k = EXERCISES[slug].kinematics
    m = MOTIONS[slug]
    sign = 1.0 if k.direction is Direction.EXTENSION else -1.0
    assert sign * (k.exit_deg - m.rest_deg) >= 8.0
    assert sign * (m.turn_deg - k.enter_deg) >= 8.0
    middle = (k.enter_deg + k.exit_deg) / 2  # where partial reps turn back
    assert abs(middle - k.enter_deg) >= 5.0 and abs(middle - k.exit_deg) >= 5.0


@pytest.mark.parametrize("seed", range(6))
def test_true_reps_match_an_exact_hysteresis_on_the_curve(seed: int) -> None:
    slug = SLUGS[seed % len(SLUGS)]
    options = SyntheticOptions(reps=4, partial_reps=2, dither_deg=5.0, tempo_jitter=0.4)
    synthetic = synthesize_set(slug, options, seed=seed)
    counter = RepCounter(RepRules.from_kinematics(EXERCISES[slug].kinematics, debounce_ms=0.0))
    for t, angle in zip(synthetic.t_ms, synthetic.curve_deg, strict=True):
        counter.step(t, angle)
    assert counter.count == synthetic.true_reps == 4
    assert counter.partials >= 2


def test_recording_flaws_drop_frames_and_hide_landmarks() -> None:
    options = SyntheticOptions(reps=4, drop_rate=0.1, occlusions=2)
    synthetic = synthesize_set("squat", options, seed=4)
    gaps = np.diff(synthetic.t_ms)
    assert (gaps > 0).all() and gaps.max() >= 3 * 1000.0 / 30
    hidden = ~synthetic.visible
    assert hidden.any()
    assert synthetic.landmarks[hidden][:, L.LEFT_KNEE, 3].max() < 0.5
    assert synthetic.landmarks[~hidden][:, :, 3].min() >= 0.5


def test_a_seed_reproduces_the_set() -> None:
    options = SyntheticOptions(noise_deg=3.0, drop_rate=0.1, dither_deg=5.0)
    a = synthesize_set("forward_lunge", options, 7)
    b = synthesize_set("forward_lunge", options, 7)
    assert np.array_equal(a.landmarks, b.landmarks) and np.array_equal(a.t_ms, b.t_ms)
