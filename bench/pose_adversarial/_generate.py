"""Adversarial cases with ground truth from known geometry.

A case is one set: a scripted joint-angle curve (rests, reps with their depth, tempo and holds,
and the non-reps a patient really does: shallow dips, hovering, bobbing), turned into a body
(``_body``), filmed, then corrupted by its condition. The truth is what the clean geometry says:
the angle per frame, the reps that cleared the definition's thresholds, each rep's range, and the
guidance cues a good tracker should give.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _body as body
from ._body import F

T0_MS = 1_764_000_000_000.0
FPS = 30.0


@dataclass(frozen=True, slots=True)
class Spec:
    """What the generator knows of an exercise (its own copy of the seeded thresholds)."""

    yaw_deg: float  # the camera the exercise asks for: 90 side (left towards it), 0 front
    rest: float
    turn: float
    enter: float
    exit: float
    target_rom: float
    driving: tuple[int, int, int]  # left-side MediaPipe indices: a, vertex, c
    one_limb: bool  # only the left limb moves

    @property
    def way(self) -> float:
        return 1.0 if self.turn > self.rest else -1.0


SPECS = {
    "squat": Spec(90.0, 172.0, 86.0, 100.0, 160.0, 75.0, (23, 25, 27), False),
    "biceps_curl": Spec(90.0, 163.0, 46.0, 70.0, 140.0, 100.0, (11, 13, 15), True),
    "shoulder_flexion": Spec(90.0, 18.0, 150.0, 130.0, 45.0, 120.0, (23, 11, 13), True),
    "standing_hip_abduction": Spec(0.0, 176.0, 141.0, 150.0, 165.0, 25.0, (11, 23, 27), True),
}


@dataclass(slots=True)
class Case:
    """One set to feed. ``t_ms``/``landmarks`` are the frames in the order sent (they may hold
    duplicates, disorder, NaN, a restarted clock); ``truth_angle`` is per sent frame (NaN where
    the geometry has no angle to compare); ``rep_ends_ms`` and ``true_roms`` per true rep, in the
    stream's own times. ``aspect`` is what the client sends (None: omitted)."""

    exercise: str
    condition: str
    seed: int
    t_ms: F
    landmarks: F
    aspect: float | None
    truth_angle: F
    true_reps: int
    true_roms: list[float]
    rep_ends_ms: list[float]
    expected_cues: frozenset[str]
    angle_comparable: bool = True
    meta: dict[str, Any] = field(default_factory=dict)


def _smooth(s: F) -> F:
    out: F = s * s * s * (10.0 + s * (-15.0 + 6.0 * s))  # minimum-jerk profile
    return out


class _Script:
    """Keyframes of the driving angle; rep windows recorded as they are written."""

    def __init__(self, start: float) -> None:
        self.t: list[float] = [0.0]
        self.a: list[float] = [start]
        self.reps: list[tuple[float, float]] = []  # (start, end) ms of each true rep

    def go(self, angle: float, ms: float) -> None:
        self.t.append(self.t[-1] + max(ms, 1.0))
        self.a.append(angle)

    def hold(self, ms: float) -> None:
        self.go(self.a[-1], ms)

    def sample(self, t_ms: F) -> F:
        kt, ka = np.array(self.t), np.array(self.a)
        i = np.clip(np.searchsorted(kt, t_ms, side="right") - 1, 0, len(kt) - 2)
        s = np.clip((t_ms - kt[i]) / (kt[i + 1] - kt[i]), 0.0, 1.0)
        out: F = ka[i] + (ka[i + 1] - ka[i]) * _smooth(s)
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    reps: int = 6
    non_reps: str | None = None  # "shallow", "hover": mixed in, never count
    short_deg: float = 2.0  # how far short of the enter threshold a shallow rep stops
    bob: bool = False  # every rep bobs back to mid-band and down again once
    holds: bool = False  # long holds at the turning point and long rests
    short_range: bool = False  # reps clear the threshold but not the target range
    fidget: bool = False


def script(spec: Spec, plan: Plan, rng: np.random.Generator) -> _Script:
    w = spec.way
    rest = spec.rest
    if plan.short_range:
        rest = spec.exit - w * rng.uniform(6.0, 8.0)
    sc = _Script(rest)
    kinds = ["rep"] * plan.reps + ([plan.non_reps] * 3 if plan.non_reps else [])
    rng.shuffle(kinds)
    sc.hold(rng.uniform(1200.0, 1800.0))
    for kind in kinds:
        here = rest + rng.uniform(-1.5, 1.5)
        half = rng.uniform(900.0, 1800.0)
        start = sc.t[-1]
        if kind == "rep":
            if plan.short_range:
                depth = spec.enter + w * rng.uniform(4.5, 6.0)
            else:
                depth = spec.turn + rng.uniform(-3.0, 3.0)
            sc.go(depth, half)
            if plan.bob:  # back up into the middle of the band, then down again
                sc.go((spec.enter + spec.exit) / 2 + rng.uniform(-3.0, 3.0), 500.0)
                sc.go(depth, 500.0)
            sc.hold(rng.uniform(1500.0, 4000.0) if plan.holds else rng.uniform(150.0, 600.0))
            sc.go(here, half)
            sc.reps.append((start, sc.t[-1]))
        elif kind == "shallow":
            sc.go(spec.enter - w * plan.short_deg, half)
            sc.hold(rng.uniform(100.0, 500.0))
            sc.go(here, half)
        else:  # hover 3-9 degrees short of the threshold, moving a little, for seconds
            short = rng.uniform(3.0, 9.0)
            sc.go(spec.enter - w * short, half)
            for _ in range(int(rng.integers(4, 8))):
                sc.go(spec.enter - w * (short + rng.uniform(-1.5, 1.5)), rng.uniform(400.0, 900.0))
            sc.go(here, half)
        if plan.fidget:  # shuffling about at rest: small wanders of the joint
            for _ in range(int(rng.integers(2, 5))):
                sc.go(rest + rng.uniform(-4.0, 4.0), rng.uniform(200.0, 500.0))
        sc.hold(rng.uniform(1500.0, 4000.0) if plan.holds else rng.uniform(700.0, 1500.0))
    sc.hold(1200.0)
    return sc


def frame_times(total_ms: float, rng: np.random.Generator, jitter: bool = False) -> F:
    if not jitter:
        return np.arange(0.0, total_ms, 1000.0 / FPS)
    # An uneven camera: intervals from 20 to 55 ms, and stamps jittered around them.
    steps = rng.uniform(20.0, 55.0, int(total_ms / 20.0) + 2)
    t = np.cumsum(steps) - steps[0]
    t = t[t < total_ms]
    t = t + rng.uniform(-6.0, 6.0, len(t))
    t[0] = 0.0
    return np.maximum.accumulate(np.round(t) + np.arange(len(t)) * 1e-3)


def angle_of(iso: F, triple: tuple[int, int, int]) -> F:
    """The truth: arccos of the normalised dot product of the clean isotropic points."""
    a, v, c = (iso[:, i] for i in triple)
    u1, u2 = a - v, c - v
    cos = np.sum(u1 * u2, -1) / (np.linalg.norm(u1, axis=-1) * np.linalg.norm(u2, axis=-1))
    out: F = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return out


def rom_of(angle: F, t: F, windows: list[tuple[float, float]]) -> list[float]:
    roms = []
    previous_end = 0.0
    for start, end in windows:
        seen = (t >= min(start, previous_end)) & (t <= end)
        roms.append(float(np.ptp(angle[seen])) if seen.any() else float("nan"))
        previous_end = end
    return roms


def visibility(n: int, near: F, rng: np.random.Generator, far_hidden: bool) -> F:
    """MediaPipe-like confidence: high for what faces the camera, lower for the far side."""
    vis = rng.uniform(0.86, 1.0, (n, body.N_LM))
    far = near < -0.06
    lo, hi = (0.08, 0.42) if far_hidden else (0.55, 0.8)
    vis[far] = rng.uniform(lo, hi, int(far.sum()))
    return vis


def noise(lm: F, sigma: float, aspect: float, rng: np.random.Generator) -> None:
    """Gaussian landmark noise, ``sigma`` in image heights on both axes (x is normalised to the
    width, so its share is divided by the aspect ratio)."""
    if sigma <= 0:
        return
    lm[..., 0] += rng.normal(0.0, sigma / aspect, lm.shape[:2])
    lm[..., 1] += rng.normal(0.0, sigma, lm.shape[:2])
