"""The per-call fast paths of the pose pipeline (plain float and ufunc arithmetic instead of
np.linalg.norm, ndarray.mean and np.errstate, which cost more than the arithmetic on the one- to
three-frame batches a worker gets) compute the same values as the textbook formulas."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from pipelines.pose import EXERCISES
from pipelines.pose._angles import AngleMeasure, angle_between, inclination
from pipelines.pose._filters import OneEuroFilter, OneEuroParams
from pipelines.pose._form import trunk_lean
from pipelines.pose._view import shoulder_torso_ratio


def reference_angle(
    u: npt.NDArray[np.float64], v: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    u, v = np.broadcast_arrays(u, v)
    dot = np.sum(u * v, axis=-1)
    if u.shape[-1] == 2:
        cross = np.abs(u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0])
    else:
        cross = np.linalg.norm(np.cross(u, v), axis=-1)
    angle = np.degrees(np.arctan2(cross, dot))
    bad = (np.linalg.norm(u, axis=-1) < 1e-9) | (np.linalg.norm(v, axis=-1) < 1e-9)
    return np.where(bad, np.nan, angle)


class ReferenceOneEuro:
    """The vectorised One-Euro step the float version replaced."""

    def __init__(self, channels: int, p: OneEuroParams) -> None:
        self.p = p
        self.x, self.dx = np.zeros(channels), np.zeros(channels)
        self.t, self.live = np.zeros(channels), np.zeros(channels, dtype=bool)

    def step(self, t_ms: float, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        def alpha(
            te: npt.NDArray[np.float64], cutoff: npt.NDArray[np.float64] | float
        ) -> npt.NDArray[np.float64]:
            return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * te))

        valid = np.isfinite(x)
        update = valid & self.live
        sample = np.where(valid, x, self.x)
        te = np.where(update, (t_ms - self.t) * 1e-3, 1.0)
        dx_hat = self.dx + alpha(te, self.p.d_cutoff_hz) * ((sample - self.x) / te - self.dx)
        cutoff = self.p.min_cutoff_hz + self.p.beta * np.abs(dx_hat)
        x_hat = self.x + alpha(te, cutoff) * (sample - self.x)
        fresh = valid & ~self.live
        self.x = np.where(update, x_hat, np.where(fresh, sample, self.x))
        self.dx = np.where(update, dx_hat, np.where(fresh, 0.0, self.dx))
        self.t = np.where(valid, t_ms, self.t)
        self.live = self.live | valid
        return np.where(valid, self.x, np.nan)


def test_angle_between_matches_the_norm_formula_in_2d_and_3d_with_degenerate_vectors() -> None:
    rng = np.random.default_rng(7)
    for dim in (2, 3):
        u = rng.normal(size=(200, 2, dim))
        v = rng.normal(size=(200, 2, dim))
        u[0, 0] = 0.0  # no length: NaN
        v[1, 1] = 0.0
        np.testing.assert_allclose(angle_between(u, v), reference_angle(u, v), atol=1e-9)
        up = np.zeros(dim)
        up[1] = -1.0
        np.testing.assert_allclose(inclination(u[:, 0]), reference_angle(u[:, 0], up), atol=1e-9)


def test_the_driving_angle_mean_equals_the_mean_over_sides() -> None:
    rng = np.random.default_rng(3)
    points = rng.uniform(0.2, 0.8, size=(5, 33, 2))
    for exercise in EXERCISES.values():
        measure = AngleMeasure(exercise.kinematics.driving)
        expected = measure.per_side(points).mean(axis=1)
        np.testing.assert_array_equal(measure.mean(points), expected)


def test_trunk_lean_and_view_ratio_match_the_plain_formulas() -> None:
    rng = np.random.default_rng(5)
    points = rng.uniform(0.2, 0.8, size=(50, 33, 2))
    shoulders = points[:, [11, 12]].mean(axis=1)
    hips = points[:, [23, 24]].mean(axis=1)
    np.testing.assert_allclose(trunk_lean(points), reference_angle(shoulders - hips, np.array(
        [0.0, -1.0])), atol=1e-9)  # fmt: skip
    visible = np.ones((50, 33), dtype=bool)
    width = np.linalg.norm(points[:, 11] - points[:, 12], axis=-1)
    torso = (
        np.linalg.norm(points[:, 11] - points[:, 23], axis=-1)
        + np.linalg.norm(points[:, 12] - points[:, 24], axis=-1)
    ) / 2
    np.testing.assert_allclose(shoulder_torso_ratio(points, visible), width / torso, rtol=1e-12)
    points[0, 11] = points[0, 23]  # a torso of no length on the left, hidden right: unknown
    visible[0, [12, 24]] = False
    assert np.isnan(shoulder_torso_ratio(points, visible)[0])


def test_float_one_euro_matches_the_vectorised_step_through_gaps_and_resets() -> None:
    rng = np.random.default_rng(11)
    params = OneEuroParams()
    fast, reference = OneEuroFilter(3, params), ReferenceOneEuro(3, params)
    t = 0.0
    for i in range(600):
        t += float(rng.uniform(20.0, 50.0))
        x = 90.0 + 40.0 * np.sin(np.arange(3) + i / 15.0) + rng.normal(0.0, 2.0, size=3)
        x[rng.uniform(size=3) < 0.1] = np.nan  # lost samples leave their channel alone
        if i % 97 == 0:
            fast.reset()
            reference.live[:] = False
        np.testing.assert_array_equal(fast.step(t, x), reference.step(t, x))
    restored = OneEuroFilter(3, params)
    restored.restore(fast.snapshot())
    x = np.array([91.0, 92.0, 93.0])
    np.testing.assert_array_equal(restored.step(t + 33.0, x), fast.step(t + 33.0, x))
