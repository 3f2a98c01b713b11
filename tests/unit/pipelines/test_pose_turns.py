"""The driving signal's look back (``DrivingSignal.turn_reached``): a quick turn the smoothed
angle lagged behind still counts, while reps stopping short of the threshold, hovering near it
or a spike past it never do, under noise."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from bench import pose_accuracy
from pipelines.pose import SyntheticOptions, synthesize_set
from pipelines.pose._signal import DrivingSignal

ENTER = 100.0  # a squat's: flexion, the turn is below it
F = npt.NDArray[np.float64]


def path(keys: list[tuple[float, float]], fps: float) -> tuple[F, F]:
    """Piecewise-linear angle through (seconds from the previous key, angle) keyframes."""
    key_t = np.cumsum([k[0] for k in keys]) * 1000.0
    t = np.arange(0.0, key_t[-1] + 1.0, 1000.0 / fps)
    return t, np.interp(t, key_t, [k[1] for k in keys])


def looked_back(t: F, angle: F, sigma: float, seed: int, since_ms: float = 2000.0) -> bool:
    """Two seconds at rest (the noise is learnt), then the movement; the look back from
    ``since_ms`` (when it left rest)."""
    rng = np.random.default_rng(seed)
    signal = DrivingSignal()
    for ti, a in zip(t, angle + rng.normal(0.0, sigma, len(angle)), strict=True):
        signal.step(float(ti), float(a))
    return signal.turn_reached(since_ms, ENTER, -1.0)


def rep(bottom: float, down_s: float, hold_s: float) -> list[tuple[float, float]]:
    return [(0.0, 170.0), (2.0, 170.0), (down_s, bottom), (hold_s, bottom), (down_s, 170.0),
            (0.5, 170.0)]  # fmt: skip


@pytest.mark.parametrize("fps", [15.0, 30.0])
def test_a_quick_turn_past_the_threshold_is_found(fps: float) -> None:
    """Down from 170 to 88 in 0.3 s, 70 ms there and straight back: below 97 for about 170 ms,
    two or three frames at 15 fps, which the causal smoothing never gets to."""
    t, angle = path(rep(88.0, 0.3, 0.07), fps)
    assert all(looked_back(t, angle, 1.0, seed) for seed in range(20))


def test_a_slow_turn_under_heavy_noise_is_found() -> None:
    t, angle = path(rep(80.0, 1.2, 0.4), 30.0)
    assert all(looked_back(t, angle, 8.0, seed) for seed in range(20))


@pytest.mark.parametrize("sigma", [1.0, 3.0, 8.0])
def test_a_rep_stopping_two_degrees_short_is_never_taken_for_a_turn(sigma: float) -> None:
    t, angle = path(rep(ENTER + 2.0, 1.0, 0.5), 30.0)
    assert not any(looked_back(t, angle, sigma, seed) for seed in range(50))


@pytest.mark.parametrize("sigma", [1.0, 3.0, 8.0])
def test_hovering_three_to_nine_degrees_short_for_seconds_is_never_taken_for_a_turn(
    sigma: float,
) -> None:
    keys = [(0.0, 170.0), (2.0, 170.0), (1.0, ENTER + 3.0)]
    keys += [(0.6, ENTER + 3.0 + 6.0 * (k % 2)) for k in range(8)] + [(1.0, 170.0)]
    t, angle = path(keys, 30.0)
    assert not any(looked_back(t, angle, sigma, seed) for seed in range(30))


def test_a_three_frame_spike_past_the_threshold_is_not_a_turn() -> None:
    t, angle = path(rep(130.0, 1.0, 0.5), 30.0)
    middle = int(np.argmin(angle))
    angle[middle : middle + 3] = 60.0  # 40 degrees past the threshold, for three frames
    assert not any(looked_back(t, angle, 1.0, seed) for seed in range(10))


def test_only_the_samples_since_the_movement_left_rest_are_looked_at() -> None:
    t, angle = path(rep(88.0, 0.5, 0.2) + [(0.5, 170.0)], 30.0)
    assert looked_back(t, angle, 1.0, 0, since_ms=2000.0)
    assert not looked_back(t, angle, 1.0, 0, since_ms=float(t[-1]) - 400.0)


def test_the_look_back_survives_a_snapshot_and_forgets_a_counted_rep() -> None:
    t, angle = path(rep(88.0, 0.3, 0.0), 30.0)
    signal = DrivingSignal()
    for ti, a in zip(t, angle, strict=True):
        signal.step(float(ti), float(a))
    copy = DrivingSignal()
    copy.restore(signal.snapshot())
    assert copy.turn_reached(2000.0, ENTER, -1.0)
    old = signal.snapshot()
    del old["raw"], old["raw_t"]  # taken before the look back kept raw samples
    copy.restore(old)
    assert not copy.turn_reached(2000.0, ENTER, -1.0)
    signal.rom()  # the rep was counted
    assert not signal.turn_reached(2000.0, ENTER, -1.0)


def test_a_fast_squat_set_at_60_fps_counts_every_rep() -> None:
    """The landmark path's squat set 25 (seed 1): ten reps of 1.2-1.7 s with the angle wobbling
    5 degrees around each threshold, 3 degrees of noise, 10% of frames dropped, world landmarks.
    A quick turn's smoothed angle stayed short of the threshold plus its margin: a rep lost."""
    opts = SyntheticOptions(
        reps=10, fps=60.0, rep_ms=2371.533227284354, tempo_jitter=0.4, pause_rest_ms=700.0,
        partial_reps=2, noise_deg=3.0, dither_deg=5.0, drop_rate=0.1, world=True,
    )  # fmt: skip
    s = synthesize_set("squat", opts, seed=569989494)
    tracker, _, _ = pose_accuracy.track("squat", s)
    assert tracker.reps == s.true_reps == 10
