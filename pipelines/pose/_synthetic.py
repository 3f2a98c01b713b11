"""Synthetic sets of a seeded exercise with known ground truth, for tests and benchmarks.

A driving-angle curve is built from keyframes (rest, turning point, pauses, partial reps,
wobbles around the thresholds), the exercise's motion turns it into a body, the camera renders
MediaPipe-layout landmarks, then the recording's flaws are added: landmark jitter scaled so that
the driving angle's noise has the asked-for sigma, dropped frames, low-visibility stretches (in
which the hidden landmarks also jump about, as MediaPipe's guesses do).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._angles import AngleMeasure, BoolArray, FloatArray
from ._kinematics import Kinematics
from ._library import EXERCISES
from ._motions import MOTIONS, Faults, Motion
from ._skeleton import SCALE, Camera, render
from ._vocabulary import CameraView

T0_MS = 1_732_000_000_000.0
_OCCLUSION_LEAD_MS = 300.0
_OCCLUSION_TAIL_MS = 800.0  # enough for tracking.ok and re-arming before the next rep


@dataclass(frozen=True, slots=True)
class SyntheticOptions:
    reps: int = 5
    fps: float = 30.0
    rep_ms: float = 3000.0  # one rep, rest -> turning point -> rest, without pauses
    tempo_jitter: float = 0.0  # each rep's duration is scaled by U(1 - j, 1 + j)
    pause_rest_ms: float = 700.0  # at rest before each rep and after the last
    pause_turn_ms: float | None = None  # at the turning point; None: 1.3 x the definition's hold
    partial_reps: int = 0  # mixed in; they turn back half-way between the thresholds
    noise_deg: float = 0.0  # sigma of the driving angle's noise from landmark jitter
    dither_deg: float = 0.0  # the angle wobbles +- this around each threshold it crosses
    drop_rate: float = 0.0  # fraction of frames lost, singly and in short bursts
    occlusions: int = 0  # low-visibility stretches, each in a pause at rest
    occlusion_ms: float = 800.0
    aspect_ratio: float = 16 / 9
    world: bool = False  # also produce world landmarks (metres)
    view: CameraView | None = None  # None: the view the definition asks for
    yaw_deg: float = 0.0  # turn the person away from that view
    faults: Faults = field(default_factory=Faults)


@dataclass(frozen=True, slots=True)
class SyntheticSet:
    """``true_angle``: the driving angle of the noise-free body, measured as the pipeline
    should (2-D in the image plane, or 3-D with world landmarks; mean of sides for ``both``).
    ``curve_deg``: the driving curve that moved the body (equal to it in the 2-D view).
    ``visible``: frames in which every driving landmark is visible."""

    t_ms: FloatArray
    landmarks: FloatArray
    world_landmarks: FloatArray | None
    true_angle: FloatArray
    curve_deg: FloatArray
    visible: BoolArray
    true_reps: int
    aspect_ratio: float


def _ease(a: FloatArray, b: FloatArray, s: FloatArray) -> FloatArray:
    eased: FloatArray = a + (b - a) * (1.0 - np.cos(np.pi * s)) / 2.0
    return eased


class _Curve:
    def __init__(self, start: float) -> None:
        self.t = [0.0]
        self.a = [start]

    def to(self, angle: float, ms: float) -> None:
        self.t.append(self.t[-1] + max(ms, 1.0))
        self.a.append(angle)

    def travel(self, target: float, ms: float, crossings: list[float], dither: float) -> None:
        """Move to ``target``, wobbling +-dither around each threshold crossed on the way."""
        way = np.sign(target - self.a[-1])
        path = [self.a[-1]]
        for thr in crossings:
            if dither > 0:
                path += [thr + way * dither, thr - way * dither, thr + way * dither]
        path.append(target)
        legs = np.abs(np.diff(path))
        for angle, leg in zip(path[1:], legs, strict=True):
            self.to(angle, ms * leg / legs.sum())

    def sample(self, t_ms: FloatArray) -> FloatArray:
        keys_t, keys_a = np.array(self.t), np.array(self.a, dtype=np.float64)
        i = np.clip(np.searchsorted(keys_t, t_ms, side="right") - 1, 0, len(keys_t) - 2)
        s = np.clip((t_ms - keys_t[i]) / (keys_t[i + 1] - keys_t[i]), 0.0, 1.0)
        return _ease(keys_a[i], keys_a[i + 1], s)


def _script(
    motion: Motion, kin: Kinematics, opts: SyntheticOptions, rng: np.random.Generator
) -> tuple[_Curve, list[tuple[float, float]], int]:
    rest, turn = motion.rest_deg, motion.turn_deg
    enter, exit_ = kin.enter_deg, kin.exit_deg
    kinds = ["full"] * opts.reps + ["partial"] * opts.partial_reps
    rng.shuffle(kinds)
    n_pauses = len(kinds) + 1
    occluded = set(rng.choice(n_pauses, size=min(opts.occlusions, n_pauses), replace=False))
    turn_pause = 1.3 * kin.hold_ms if opts.pause_turn_ms is None else opts.pause_turn_ms
    curve = _Curve(rest)
    windows: list[tuple[float, float]] = []
    for i in range(n_pauses):
        pause = opts.pause_rest_ms * rng.uniform(0.7, 1.3)
        if i in occluded:
            pause = max(pause, _OCCLUSION_LEAD_MS + opts.occlusion_ms + _OCCLUSION_TAIL_MS)
            start = curve.t[-1] + _OCCLUSION_LEAD_MS
            windows.append((start, start + opts.occlusion_ms))
        curve.to(curve.a[-1], pause)
        if i == len(kinds):
            break
        half = opts.rep_ms * rng.uniform(1 - opts.tempo_jitter, 1 + opts.tempo_jitter) / 2
        if kinds[i] == "full":
            target, crossings = turn + rng.uniform(-2.0, 2.0), [exit_, enter]
        else:
            target, crossings = (enter + exit_) / 2, [exit_]
        curve.travel(target, half, crossings, opts.dither_deg)
        if kinds[i] == "full" and turn_pause > 0:
            curve.to(target, turn_pause)
        back = rest + rng.uniform(-2.0, 2.0)
        curve.travel(back, half, crossings[::-1], opts.dither_deg)
    return curve, windows, kinds.count("full")


def _frame_times(total_ms: float, opts: SyntheticOptions, rng: np.random.Generator) -> FloatArray:
    step = 1000.0 / opts.fps
    t = np.arange(0.0, total_ms, step)
    t = t + rng.uniform(-0.1, 0.1, len(t)) * step
    t[0] = 0.0
    keep = rng.random(len(t)) >= opts.drop_rate
    if opts.drop_rate > 0:
        for start in rng.uniform(0.0, total_ms, size=max(1, round(total_ms / 10000))):
            keep &= ~((t >= start) & (t < start + rng.uniform(100.0, 300.0)))  # a short burst
    keep[0] = True
    return np.round(t[keep])


def _true_angles(points: FloatArray, measure: AngleMeasure) -> FloatArray:
    # Deliberately not the pipeline's formula: arccos of the normalised dot product.
    a = points[:, measure.triples[:, 0]] - points[:, measure.triples[:, 1]]
    c = points[:, measure.triples[:, 2]] - points[:, measure.triples[:, 1]]
    cos = np.sum(a * c, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(c, axis=-1))
    angles: FloatArray = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return angles


def _unit_noise_deg(points: FloatArray, measure: AngleMeasure, rng: np.random.Generator) -> float:
    """Driving-angle sigma (degrees) per unit sigma of isotropic landmark jitter."""
    sample = points[rng.integers(0, len(points), 64)]
    tiny = 1e-5
    jittered = sample + rng.normal(0.0, tiny, sample.shape)
    spread = _true_angles(jittered, measure) - _true_angles(sample, measure)
    return float(np.sqrt(np.mean(spread**2))) / tiny


def synthesize_set(
    slug: str, options: SyntheticOptions | None = None, seed: int = 0
) -> SyntheticSet:
    """One synthetic set of the seeded exercise ``slug``, reproducible from ``seed``."""
    opts = options or SyntheticOptions()
    rng = np.random.default_rng(seed)
    kin = EXERCISES[slug].kinematics
    curve, windows, true_reps = _script(MOTIONS[slug], kin, opts, rng)
    t = _frame_times(curve.t[-1], opts, rng)
    theta = curve.sample(t)
    pose = MOTIONS[slug].pose(theta, opts.faults)
    camera = Camera.looking_at(opts.view or kin.view, opts.yaw_deg)
    image, world, uv = render(pose, camera, opts.aspect_ratio)
    measure = AngleMeasure(kin.driving)
    clean = world if opts.world else uv
    true_angle = _true_angles(clean, measure).mean(axis=1)

    n = len(t)
    visibility = rng.uniform(0.8, 1.0, (n, image.shape[1]))
    hidden = np.zeros(n, dtype=bool)
    for start, end in windows:
        hidden |= (t >= start) & (t < end)
    if opts.noise_deg > 0:
        sigma = opts.noise_deg / _unit_noise_deg(clean, measure, rng)  # metres
        image[..., 0] += rng.normal(0.0, sigma * SCALE / opts.aspect_ratio, (n, image.shape[1]))
        image[..., 1] += rng.normal(0.0, sigma * SCALE, (n, image.shape[1]))
        world = world + rng.normal(0.0, sigma, world.shape)
    drivers = measure.landmarks
    k = int(hidden.sum())
    if k:
        rows = np.flatnonzero(hidden)[:, None]
        visibility[rows, drivers] = rng.uniform(0.05, 0.35, (k, len(drivers)))
        image[rows, drivers, :2] += rng.normal(0.0, 0.08, (k, len(drivers), 2))
        world[rows, drivers] += rng.normal(0.0, 0.2, (k, len(drivers), 3))
    landmarks = np.concatenate([image, visibility[..., None]], axis=-1)
    world_lm = np.concatenate([world, visibility[..., None]], axis=-1) if opts.world else None
    return SyntheticSet(
        t_ms=T0_MS + t,
        landmarks=landmarks,
        world_landmarks=world_lm,
        true_angle=true_angle,
        curve_deg=theta,
        visible=~hidden,
        true_reps=true_reps,
        aspect_ratio=opts.aspect_ratio,
    )
