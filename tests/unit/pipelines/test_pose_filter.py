"""The One-Euro filter: smoothing when still, little lag when moving."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from pipelines.pose import OneEuroFilter, OneEuroParams

FPS = 30.0


def times(seconds: float) -> npt.NDArray[np.float64]:
    return np.arange(0.0, seconds * 1000.0, 1000.0 / FPS)


def run(
    signal: npt.NDArray[np.float64], t: npt.NDArray[np.float64], params: OneEuroParams | None = None
) -> npt.NDArray[np.float64]:
    return OneEuroFilter(1, params).filter(t, signal[:, None])[:, 0]


def settle_ms(
    out: npt.NDArray[np.float64], t: npt.NDArray[np.float64], step_at: float, level: float
) -> float:
    reached = t[(t >= step_at) & (out >= level)]
    return float(reached[0] - step_at)


def test_a_constant_passes_through_unchanged() -> None:
    t = times(2)
    assert np.allclose(run(np.full(len(t), 42.0), t), 42.0)


def test_a_step_is_followed_fast_thanks_to_beta() -> None:
    t = times(3)
    step = np.where(t >= 1000.0, 60.0, 0.0)
    adaptive = settle_ms(run(step, t), t, 1000.0, 54.0)
    fixed = settle_ms(run(step, t, OneEuroParams(beta=0.0)), t, 1000.0, 54.0)
    assert adaptive <= 150.0
    assert fixed >= 300.0
    assert run(step, t).max() <= 60.0 + 1e-9  # a first-order filter never overshoots


def test_a_movement_like_sine_keeps_its_amplitude_with_little_lag() -> None:
    t = times(8)
    sine = 130.0 + 40.0 * np.sin(2 * np.pi * 0.4 * t / 1000.0)  # a 2.5 s rep
    out = run(sine, t)
    steady = t > 2000.0
    assert np.ptp(out[steady]) >= 0.97 * np.ptp(sine[steady])
    lags = np.arange(0, 10)
    errors = [
        np.mean(np.abs(out[steady][k:] - sine[steady][: len(sine[steady]) - k])) for k in lags
    ]
    assert lags[int(np.argmin(errors))] * 1000.0 / FPS <= 70.0
    assert np.mean(np.abs(out[steady] - sine[steady])) <= 1.0


def test_jitter_at_rest_is_smoothed() -> None:
    t = times(20)
    noisy = 170.0 + np.random.default_rng(1).normal(0.0, 3.0, len(t))
    assert np.std(run(noisy, t)[30:]) <= 0.7 * 3.0


def test_channels_are_filtered_independently_and_nan_skips_a_channel() -> None:
    t = times(2)
    rng = np.random.default_rng(2)
    x = rng.normal(100.0, 5.0, (len(t), 2))
    both = OneEuroFilter(2).filter(t, x)
    assert np.allclose(both[:, 0], run(x[:, 0], t))
    assert np.allclose(both[:, 1], run(x[:, 1], t))
    gapped = x.copy()
    gapped[10:15, 1] = np.nan
    out = OneEuroFilter(2).filter(t, gapped)
    assert np.allclose(out[:, 0], both[:, 0])
    assert np.isnan(out[10:15, 1]).all() and np.isfinite(out[15:, 1]).all()


def test_reset_forgets_the_past() -> None:
    f = OneEuroFilter(1)
    f.step(0.0, np.array([10.0]))
    f.reset()
    assert f.step(33.0, np.array([90.0]))[0] == 90.0


def test_snapshot_restore_continues_identically() -> None:
    t = times(2)
    x = np.random.default_rng(3).normal(50.0, 5.0, (len(t), 1))
    whole = OneEuroFilter(1).filter(t, x)
    first = OneEuroFilter(1)
    first.filter(t[:20], x[:20])
    second = OneEuroFilter(1)
    second.restore(first.snapshot())
    assert np.array_equal(second.filter(t[20:], x[20:]), whole[20:])


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        OneEuroParams(min_cutoff_hz=0.0)
