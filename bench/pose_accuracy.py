"""Pose pipeline accuracy on synthetic sets with known ground truth, per seeded exercise.

For each exercise: noisy sets (3-degree landmark jitter, always) with a random mix of tempo
variation, pauses, partial reps, +-5 degree dither around the thresholds, dropped frames,
low-visibility stretches, frame rates, aspect ratios and 2-D/3-D input, fed in batches of five
frames as the WebSocket delivers them; and clean sets for the joint-angle error.

    python -m bench.pose_accuracy --sets 200 --seed 1 [--json out.json]

Goals: exact rep count in >= 99% of sets, no phantom reps, angle MAE <= 1 degree on clean
curves, p95 per-frame compute <= 2 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from pipelines.pose import (
    EXERCISES,
    ExerciseTracker,
    SyntheticOptions,
    SyntheticSet,
    joint_angles,
    synthesize_set,
)

BATCH = 5
GOALS = {"exact_count_pct": 99.0, "phantom_reps": 0, "angle_mae_deg": 1.0, "p95_frame_ms": 2.0}


def noisy_options(rng: np.random.Generator) -> SyntheticOptions:
    coin = rng.random(8) < 0.5
    return SyntheticOptions(
        reps=int(rng.integers(3, 11)),
        fps=float(rng.choice([15.0, 24.0, 30.0, 30.0, 60.0])),
        rep_ms=float(rng.uniform(2000.0, 5000.0)),
        tempo_jitter=0.4 if coin[0] else 0.1,
        pause_rest_ms=float(rng.choice([200.0, 700.0, 2500.0])),
        pause_turn_ms=float(rng.uniform(0.0, 2500.0)) if coin[1] else None,
        partial_reps=int(rng.integers(1, 4)) if coin[2] else 0,
        noise_deg=3.0,
        dither_deg=5.0 if coin[3] else 0.0,
        drop_rate=0.1 if coin[4] else 0.0,
        occlusions=int(rng.integers(1, 3)) if coin[5] else 0,
        aspect_ratio=float(rng.choice([16 / 9, 4 / 3, 9 / 16])),
        world=bool(rng.random() < 0.25),
    )


def clean_options(rng: np.random.Generator) -> SyntheticOptions:
    return SyntheticOptions(
        reps=5,
        rep_ms=float(rng.uniform(2500.0, 4500.0)),
        tempo_jitter=0.2,
        aspect_ratio=float(rng.choice([16 / 9, 4 / 3])),
        world=bool(rng.random() < 0.25),
    )


def track(
    slug: str, synthetic: SyntheticSet
) -> tuple[ExerciseTracker, npt.NDArray[np.float64], list[tuple[float, float]]]:
    """Feed a set in batches; returns the tracker, its angle per frame and, per batch, the wall
    and CPU milliseconds per frame."""
    tracker = ExerciseTracker(
        EXERCISES[slug].kinematics, synthetic.true_reps or 1, aspect_ratio=synthetic.aspect_ratio
    )
    angles, per_frame = [], []
    world = synthetic.world_landmarks
    for i in range(0, len(synthetic.t_ms), BATCH):
        batch = slice(i, i + BATCH)
        wall, cpu = time.perf_counter(), time.thread_time()
        tracker.feed(
            synthetic.t_ms[batch],
            synthetic.landmarks[batch],
            None if world is None else world[batch],
        )
        frames = len(synthetic.t_ms[batch])
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        per_frame.append((wall * 1000.0 / frames, cpu * 1000.0 / frames))
        angles.append(tracker.angles)
    return tracker, np.concatenate(angles), per_frame


def _raw_angle(slug: str, synthetic: SyntheticSet) -> npt.NDArray[np.float64]:
    triples = np.array(EXERCISES[slug].kinematics.driving.triples(), dtype=np.intp)
    if synthetic.world_landmarks is not None:
        points = synthetic.world_landmarks[..., :3]
    else:
        points = synthetic.landmarks[..., :2] * np.array([synthetic.aspect_ratio, 1.0])
    mean: npt.NDArray[np.float64] = joint_angles(points, triples).mean(axis=1)
    return mean


def run_exercise(slug: str, sets: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng([seed, sum(map(ord, slug))])
    exact = phantom = missed = 0
    timings: list[tuple[float, float]] = []
    for _ in range(sets):
        synthetic = synthesize_set(slug, noisy_options(rng), seed=int(rng.integers(2**31)))
        tracker, _, per_frame = track(slug, synthetic)
        timings += per_frame
        exact += tracker.reps == synthetic.true_reps
        phantom += max(0, tracker.reps - synthetic.true_reps)
        missed += max(0, synthetic.true_reps - tracker.reps)
    errors, raw_errors = [], []
    for _ in range(max(2, sets // 10)):
        synthetic = synthesize_set(slug, clean_options(rng), seed=int(rng.integers(2**31)))
        _, angles, _ = track(slug, synthetic)
        seen = np.isfinite(angles)
        errors.append(np.abs(angles[seen] - synthetic.true_angle[seen]))
        raw_errors.append(np.abs(_raw_angle(slug, synthetic) - synthetic.true_angle))
    return {
        "sets": sets,
        "exact_count_pct": round(100.0 * exact / sets, 2),
        "phantom_reps": phantom,
        "missed_reps": missed,
        "angle_mae_deg": round(float(np.mean(np.concatenate(errors))), 3),
        "angle_mae_raw_deg": round(float(np.mean(np.concatenate(raw_errors))), 4),
        "per_frame_ms": _percentiles([wall for wall, _ in timings]),
        "per_frame_cpu_ms": _percentiles([cpu for _, cpu in timings]),
    }


def _percentiles(samples: list[float]) -> dict[str, float]:
    p50, p95, p99 = np.percentile(samples, [50, 95, 99])
    return {"p50": round(float(p50), 4), "p95": round(float(p95), 4), "p99": round(float(p99), 4)}


def run(sets_per_exercise: int = 100, seed: int = 0) -> dict[str, Any]:
    """Per-exercise accuracy figures and whether every goal is met."""
    exercises = {slug: run_exercise(slug, sets_per_exercise, seed) for slug in EXERCISES}
    worst = {
        "exact_count_pct": min(e["exact_count_pct"] for e in exercises.values()),
        "phantom_reps": sum(e["phantom_reps"] for e in exercises.values()),
        "angle_mae_deg": max(e["angle_mae_deg"] for e in exercises.values()),
        "p95_frame_ms": max(e["per_frame_ms"]["p95"] for e in exercises.values()),
        "p95_frame_cpu_ms": max(e["per_frame_cpu_ms"]["p95"] for e in exercises.values()),
    }
    met = {
        "exact_count_pct": worst["exact_count_pct"] >= GOALS["exact_count_pct"],
        "phantom_reps": worst["phantom_reps"] <= GOALS["phantom_reps"],
        "angle_mae_deg": worst["angle_mae_deg"] <= GOALS["angle_mae_deg"],
        # CPU time per frame: the machine may be shared, and wall time then measures the queue.
        "p95_frame_ms": worst["p95_frame_cpu_ms"] <= GOALS["p95_frame_ms"],
    }
    return {
        "sets_per_exercise": sets_per_exercise,
        "seed": seed,
        "exercises": exercises,
        "worst": worst,
        "goals": GOALS,
        "goals_met": met,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "| exercise | exact count % | phantom | missed | angle MAE ° | p50 ms | p95 ms "
        "| p95 CPU ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for slug, e in report["exercises"].items():
        lines.append(
            f"| {slug} | {e['exact_count_pct']:.1f} | {e['phantom_reps']} | {e['missed_reps']} "
            f"| {e['angle_mae_deg']:.2f} | {e['per_frame_ms']['p50']:.3f} "
            f"| {e['per_frame_ms']['p95']:.3f} | {e['per_frame_cpu_ms']['p95']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=100, help="noisy sets per exercise")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the report to this file")
    args = parser.parse_args(argv)
    report = run(args.sets, args.seed)
    print(markdown(report))
    print(json.dumps({"worst": report["worst"], "goals_met": report["goals_met"]}))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(report, out, indent=2)
    return 0 if all(report["goals_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
