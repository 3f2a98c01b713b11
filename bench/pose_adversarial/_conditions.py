"""The conditions of the adversarial set, each at its severities, and how a case is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from . import _body as body
from ._body import F
from ._generate import (
    SPECS,
    T0_MS,
    Case,
    Plan,
    Spec,
    angle_of,
    frame_times,
    noise,
    rom_of,
    script,
    visibility,
)

PAIRS = (body.LEFT_INDICES, body.RIGHT_INDICES)
BASE_NOISE = 0.0025  # every case but "clean" carries MediaPipe-like jitter of 0.25% at least


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    plan: Plan = Plan()
    noise: float = BASE_NOISE
    aspect: float = 16 / 9
    send_aspect: bool = True
    jitter: bool = False
    yaw_offset: float = 0.0
    far_hidden: bool = False
    too_close: bool = False
    wrong_view_reps: int = 0
    fault: str | None = None  # a corruption applied after rendering (see _FAULTS)
    level: float = 0.0
    exercises: tuple[str, ...] = tuple(SPECS)
    angle_comparable: bool = True
    expect: tuple[str, ...] = ()


def _all() -> list[Condition]:
    c: list[Condition] = [Condition("clean", noise=0.0)]
    c += [Condition(f"noise_{p:g}%", noise=p / 100) for p in (0.25, 0.5, 1.0, 2.0)]
    for p in (0.5, 1.0):
        c.append(Condition(f"shallow_2deg_noise_{p:g}%", Plan(non_reps="shallow"), noise=p / 100))
        c.append(Condition(f"hover_noise_{p:g}%", Plan(non_reps="hover"), noise=p / 100))
    c.append(Condition("bobbing_noise_0.5%", Plan(bob=True), noise=0.005))
    c.append(Condition("holds_noise_0.5%", Plan(holds=True), noise=0.005))
    c.append(Condition("fidgeting_noise_0.5%", Plan(fidget=True), noise=0.005, fault="sway"))
    c.append(Condition("short_range_noise_0.5%", Plan(short_range=True), noise=0.005))
    c.append(Condition("spikes_15%", fault="spikes", level=0.15))
    c.append(Condition("lr_swaps", fault="swaps", level=1.0))
    for s in (0.25, 0.5, 1.0):
        c.append(Condition(f"occlusion_bottom_{s:g}s", fault="occlude", level=s))
    for p in (10, 30):
        c.append(Condition(f"frame_drops_{p}%", fault="drops", level=p / 100))
    c.append(Condition("duplicates_5%", fault="duplicates", level=0.05, angle_comparable=False))
    c.append(Condition("out_of_order_5%", fault="disorder", level=0.05, angle_comparable=False))
    c.append(Condition("timestamp_jitter", jitter=True))
    c.append(Condition("nan_landmarks_3%", fault="nan", level=0.03))
    c.append(Condition("clock_restart", fault="restart", angle_comparable=False))
    # The client leaves the aspect ratio out: the session must refuse the set's first frames
    # (`aspect_required`); the client then sends it and the set counts as any other.
    c.append(Condition("aspect_omitted_16:9", send_aspect=False, expect=("aspect_required",)))
    c.append(Condition("far_limb_side_view", yaw_offset=180.0, far_hidden=True,
                       exercises=("squat", "biceps_curl", "shoulder_flexion")))  # fmt: skip
    c.append(Condition("wrong_view_then_right", Plan(reps=6), wrong_view_reps=2,
                       expect=("camera_view",)))  # fmt: skip
    c.append(Condition("too_close_feet_out", too_close=True))
    return c


CONDITIONS: tuple[Condition, ...] = tuple(_all())


def build(exercise: str, cond: Condition, seed: int) -> Case:
    spec = SPECS[exercise]
    rng = np.random.default_rng([seed, sum(map(ord, exercise)), sum(map(ord, cond.name))])
    plan = cond.plan
    if cond.wrong_view_reps:
        plan = replace(plan, reps=plan.reps + cond.wrong_view_reps)
    sc = script(spec, plan, rng)
    t = frame_times(sc.t[-1], rng, cond.jitter)
    theta = sc.sample(t)
    pose = body.POSES[exercise](theta)
    yaw = np.full(len(t), spec.yaw_deg + cond.yaw_offset)
    wrong_until = 0.0
    if cond.wrong_view_reps:  # the first reps filmed from the wrong side, then a turn
        wrong_until = sc.reps[cond.wrong_view_reps - 1][1] + 400.0
        yaw[t < wrong_until] = spec.yaw_deg - 75.0 if spec.yaw_deg else 75.0
    scale, y0 = (0.60, 1.12) if cond.too_close else (body.PIXELS_PER_M, 0.93)
    image, iso, near = _render(pose, yaw, cond.aspect, scale, y0)
    flat_yaw = bool(np.all(yaw == yaw[0]))
    truth = angle_of(iso, spec.driving)
    if not flat_yaw:
        truth[t < wrong_until] = np.nan  # the projected angle there is not the joint's
    vis = visibility(len(t), near, rng, cond.far_hidden)
    out_of_frame = (image[..., 1] > 1.0) | (image[..., 1] < 0.0)
    out_of_frame |= (image[..., 0] > 1.0) | (image[..., 0] < 0.0)
    vis[out_of_frame] = rng.uniform(0.01, 0.3, int(out_of_frame.sum()))
    lm = np.concatenate([image, vis[..., None]], axis=-1)
    noise(lm, cond.noise, cond.aspect, rng)
    if cond.far_hidden:  # MediaPipe's guesses for the hidden limb wander
        hidden = vis < 0.5
        lm[..., :2] += np.where(hidden[..., None], rng.normal(0.0, 0.01, lm[..., :2].shape), 0.0)

    windows = list(sc.reps)
    true_roms = rom_of(angle_of(iso, spec.driving), t, windows)
    counted = [True] * len(windows)
    expected = set(cond.expect)
    driving_out = out_of_frame[:, list(spec.driving)].any(axis=1).mean() > 0.5
    if cond.too_close and driving_out:
        counted = [False] * len(windows)
        expected.add("step_back")
    if cond.wrong_view_reps:
        counted = [end > wrong_until for _, end in windows]
    if cond.far_hidden and spec.one_limb:  # the moving arm faces away: say so, count nothing
        counted = [False] * len(windows)
        expected.add("turn_side")
    rep_ends = [end for (_, end), ok in zip(windows, counted, strict=True) if ok]
    roms = [r for r, ok in zip(true_roms, counted, strict=True) if ok]
    if any(r < spec.target_rom for r in roms):  # the geometry says: move further
        expected.add("more_range")
    case = Case(
        exercise=exercise,
        condition=cond.name,
        seed=seed,
        t_ms=T0_MS + t,
        landmarks=lm,
        aspect=cond.aspect if cond.send_aspect else None,
        truth_angle=truth,
        true_reps=len(rep_ends),
        true_roms=roms,
        rep_ends_ms=[T0_MS + e for e in rep_ends],
        expected_cues=frozenset(expected),
        angle_comparable=cond.angle_comparable and not cond.far_hidden,
        meta={"camera_aspect": cond.aspect},
    )
    if cond.fault is not None:
        _FAULTS[cond.fault](case, spec, cond.level, rng)
    return case


def _render(pose: F, yaw: F, aspect: float, scale: float, y0: float) -> tuple[F, F, F]:
    if np.all(yaw == yaw[0]):
        return body.project(pose, float(yaw[0]), aspect, scale, y0)
    parts = [body.project(pose[yaw == y], float(y), aspect, scale, y0) for y in np.unique(yaw)]
    out = []
    for k in range(3):
        whole = np.empty((len(yaw), *parts[0][k].shape[1:]))
        for y, part in zip(np.unique(yaw), parts, strict=True):
            whole[yaw == y] = part[k]
        out.append(whole)
    return out[0], out[1], out[2]


# --- corruptions after rendering ------------------------------------------------------------


def _spikes(case: Case, spec: Spec, level: float, rng: np.random.Generator) -> None:
    n = len(case.t_ms)
    for start in rng.choice(np.arange(10, n - 5), size=max(3, n // 120), replace=False):
        lm = int(rng.choice(spec.driving))
        direction = rng.normal(size=2)
        direction /= np.linalg.norm(direction)
        jump = level * direction * np.array([1.0 / (case.aspect or 16 / 9), 1.0])
        case.landmarks[start : start + 3, lm, :2] += jump  # 3 frames of 15% of the height


def _swaps(case: Case, spec: Spec, level: float, rng: np.random.Generator) -> None:
    n = len(case.t_ms)
    left, right = np.array(PAIRS[0]), np.array(PAIRS[1])
    for start in rng.choice(np.arange(10, n - 40), size=max(2, n // 200), replace=False):
        stop = start + int(rng.uniform(3, 30 * level))
        chunk = case.landmarks[start:stop]
        chunk[:, left], chunk[:, right] = chunk[:, right].copy(), chunk[:, left].copy()


def _occlude(case: Case, spec: Spec, level: float, rng: np.random.Generator) -> None:
    """Hide the driving joints around the turning point of every rep for ``level`` seconds."""
    t = case.t_ms - T0_MS
    angle = np.nan_to_num(case.truth_angle, nan=spec.rest)
    w = spec.way
    for end in case.rep_ends_ms:
        e = end - T0_MS
        inside = np.flatnonzero((t <= e) & (t >= e - 9000.0))
        if not len(inside):
            continue
        turn = inside[np.argmax(w * angle[inside])]
        hide = np.abs(t - t[turn]) <= level * 500.0
        rows = np.flatnonzero(hide)[:, None]
        cols = np.array(spec.driving)
        case.landmarks[rows, cols, 3] = rng.uniform(0.02, 0.3, (len(rows), len(cols)))
        case.landmarks[rows, cols, :2] += rng.normal(0.0, 0.05, (len(rows), len(cols), 2))
        case.truth_angle[hide] = np.nan


def _drops(case: Case, spec: Spec, level: float, rng: np.random.Generator) -> None:
    t = case.t_ms
    keep = rng.random(len(t)) >= level
    for start in rng.uniform(t[0], t[-1], 3):  # and bursts of 200-400 ms
        keep &= ~((t >= start) & (t < start + rng.uniform(200.0, 400.0)))
    keep[:5] = True
    _take(case, np.flatnonzero(keep))


def _duplicates(case: Case, spec: Spec, level: float, rng: np.random.Generator) -> None:
    n = len(case.t_ms)
    twice = rng.random(n) < level
    order = np.repeat(np.arange(n), np.where(twice, 2, 1))
    _take(case, order)
    again = np.flatnonzero(np.diff(order) == 0) + 1
    case.landmarks[again, :, :2] += rng.normal(0.0, 0.002, (len(again), body.N_LM, 2))


def _disorder(case: Case, spec: Spec, level: float, rng: np.random.Generator) -> None:
    order = np.arange(len(case.t_ms))
    for i in np.flatnonzero(rng.random(len(order) - 1) < level):
        if order[i] == i and order[i + 1] == i + 1:
            order[i], order[i + 1] = i + 1, i
    _take(case, order)


def _nan(case: Case, spec: Spec, level: float, rng: np.random.Generator) -> None:
    n = len(case.t_ms)
    whole = rng.random(n) < level
    some = (rng.random(n) < level) & ~whole
    case.landmarks[whole] = np.nan
    case.landmarks[np.flatnonzero(some), spec.driving[2], :2] = np.nan
    case.truth_angle[whole | some] = np.nan


def _restart(case: Case, spec: Spec, level: float, rng: np.random.Generator) -> None:
    """A page reload in a rest between reps: 1.5 s of nothing, then a clock from ~0."""
    t = case.t_ms
    ends = case.rep_ends_ms
    if len(ends) < 2:
        return
    at = ends[len(ends) // 2 - 1] + 200.0
    gone = (t >= at) & (t < at + 1500.0)
    _take(case, np.flatnonzero(~gone))
    later = case.t_ms >= at
    shift = at + 1500.0 - rng.uniform(50.0, 2000.0)
    case.t_ms = np.where(later, case.t_ms - shift, case.t_ms)
    case.rep_ends_ms = [e - shift if e >= at else e for e in ends]


def _sway(case: Case, spec: Spec, level: float, rng: np.random.Generator) -> None:
    """The whole body drifts and sways a few centimetres, as people do between reps."""
    t = (case.t_ms - T0_MS) / 1000.0
    dx = 0.012 * np.sin(2 * np.pi * t / rng.uniform(3.0, 7.0) + rng.uniform(0, 6))
    dy = 0.006 * np.sin(2 * np.pi * t / rng.uniform(2.0, 5.0) + rng.uniform(0, 6))
    case.landmarks[..., 0] += dx[:, None] / (case.aspect or 16 / 9)
    case.landmarks[..., 1] += dy[:, None]


def _take(case: Case, index: npt.NDArray[np.intp]) -> None:
    case.t_ms = case.t_ms[index]
    case.landmarks = case.landmarks[index]
    case.truth_angle = case.truth_angle[index]


_FAULTS: dict[str, Callable[[Case, Spec, float, np.random.Generator], None]] = {
    "spikes": _spikes,
    "swaps": _swaps,
    "occlude": _occlude,
    "drops": _drops,
    "duplicates": _duplicates,
    "disorder": _disorder,
    "nan": _nan,
    "restart": _restart,
    "sway": _sway,
}
