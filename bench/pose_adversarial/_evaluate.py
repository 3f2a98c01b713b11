"""Feed the adversarial cases to the importable ``pipelines.pose`` and score them per condition.

Per condition: exact-count % (sets), reps right % (1 - (phantom + missed) / true reps), phantom
and missed reps, the driving angle's mean absolute error on tracked frames, the range of motion's
mean absolute error and bias per counted rep, and the precision and recall of the guidance cues
(``EVALUATED_CUES``: a code fired where the truth does not call for it is a false positive). The
tracker is driven only through the API both the previous and the current tracker share, so the
same code scores either.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import numpy as np
import numpy.typing as npt

from ._conditions import CONDITIONS, build
from ._generate import Case

EVALUATED_CUES = frozenset(
    {"more_range", "camera_view", "step_back", "turn_side", "aspect_unknown", "more_light",
     "aspect_required"}
)  # fmt: skip


def refusal_without_aspect(case: Case) -> str | None:
    """The error code a guided session answers a set's first frames without the aspect ratio
    with (None: it took them, as the previous tracker did, assuming 1.0)."""
    from pipelines.pose import EXERCISES
    from pipelines.session import GuideError, LiveSession, PlannedExercise, SessionPlan

    kin = EXERCISES[case.exercise].kinematics.to_dict()
    plan = SessionPlan((PlannedExercise(0, case.exercise, case.exercise, sets=1, reps=1000,
                                        rest_s=0, kinematics=kin),))  # fmt: skip
    live = LiveSession(plan)
    live.start(0.0)
    try:
        live.feed(0.0, case.t_ms[:3], case.landmarks[:3])
    except GuideError as exc:
        return exc.code
    return None


def run_case(case: Case) -> dict[str, Any]:
    from pipelines.pose import EXERCISES, ExerciseTracker, FormCue, PoseInputError, RepCounted

    kin = EXERCISES[case.exercise].kinematics
    cues: set[str] = set()
    aspect = case.aspect
    if aspect is None:
        refused_with = refusal_without_aspect(case)
        if refused_with is not None:  # told so, the client sends the ratio with its frames
            cues.add(refused_with)
            aspect = float(case.meta["camera_aspect"])
    try:
        tracker = ExerciseTracker(kin, 1000, aspect_ratio=aspect)
    except (TypeError, ValueError):  # the previous tracker: an omitted aspect meant 1.0
        tracker = ExerciseTracker(kin, 1000, aspect_ratio=aspect or 1.0)
    rng = np.random.default_rng(case.seed)
    reps: list[tuple[float, float]] = []
    angles: list[npt.NDArray[np.float64]] = []
    aligned = True
    refused = 0
    cpu_ms: list[float] = []
    i, n = 0, len(case.t_ms)
    while i < n:
        j = min(n, i + int(rng.integers(1, 4)))  # one to three frames an op, as clients send
        began = time.thread_time()
        try:
            events = tracker.feed(case.t_ms[i:j], case.landmarks[i:j])
        except PoseInputError:
            events, refused = [], refused + (j - i)
        cpu_ms.append((time.thread_time() - began) * 1000.0 / (j - i))
        got = tracker.angles
        if len(got) != j - i:
            aligned = False
        angles.append(got if len(got) == j - i else np.full(j - i, np.nan))
        for ev in events:
            if isinstance(ev, RepCounted):
                reps.append((ev.t_ms, ev.rom_deg))
            elif isinstance(ev, FormCue) and ev.code in EVALUATED_CUES:
                cues.add(ev.code)
        i = j
    measured = np.concatenate(angles) if angles else np.empty(0)
    both = np.isfinite(measured) & np.isfinite(case.truth_angle)
    angle_err = (
        np.abs(measured[both] - case.truth_angle[both])
        if aligned and case.angle_comparable
        else np.empty(0)
    )
    rom_err = _rom_errors(case, reps)
    return {
        "true": case.true_reps,
        "counted": len(reps),
        "angle_err": angle_err.tolist(),
        "rom_err": rom_err,
        "cues": sorted(cues),
        "expected": sorted(case.expected_cues),
        "refused": refused,
        "cpu_ms": cpu_ms,
    }


def _rom_errors(case: Case, reps: list[tuple[float, float]]) -> list[float]:
    """Signed error of each counted rep's range against the true rep that ended just before it
    (a rep is counted when it is back past the exit threshold, shortly before its true end)."""
    errors = []
    used: set[int] = set()
    for t_ms, rom in reps:
        best = None
        for k, end in enumerate(case.rep_ends_ms):
            if k not in used and -3000.0 <= t_ms - end <= 1500.0:
                if best is None or abs(t_ms - end) < abs(t_ms - case.rep_ends_ms[best]):
                    best = k
        if best is not None and np.isfinite(case.true_roms[best]):
            used.add(best)
            errors.append(rom - case.true_roms[best])
    return errors


def evaluate(
    sets: int = 4,
    seed: int = 0,
    conditions: Collection[str] | None = None,
    exercises: Collection[str] | None = None,
) -> dict[str, Any]:
    """Every condition x exercise x ``sets`` seeds (or the ``conditions`` and ``exercises``
    named); figures per condition and overall."""
    out: dict[str, Any] = {}
    cpu: list[float] = []
    for cond in CONDITIONS:
        if conditions is not None and cond.name not in conditions:
            continue
        results = []
        for exercise in cond.exercises:
            if exercises is not None and exercise not in exercises:
                continue
            for s in range(sets):
                r = run_case(build(exercise, cond, seed * 1000 + s))
                cpu += r.pop("cpu_ms")
                results.append(r)
        out[cond.name] = _summary(results)
    p50, p95 = (float(np.percentile(cpu, q)) for q in (50, 95))
    return {"conditions": out, "cpu_ms_per_frame": {"p50": p50, "p95": p95}, "sets": sets}


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    true = sum(r["true"] for r in results)
    phantom = sum(max(0, r["counted"] - r["true"]) for r in results)
    missed = sum(max(0, r["true"] - r["counted"]) for r in results)
    exact = sum(r["counted"] == r["true"] for r in results)
    angle = [e for r in results for e in r["angle_err"]]
    rom = [e for r in results for e in r["rom_err"]]
    tp = sum(len(set(r["cues"]) & set(r["expected"])) for r in results)
    fp = sum(len(set(r["cues"]) - set(r["expected"])) for r in results)
    fn = sum(len(set(r["expected"]) - set(r["cues"])) for r in results)
    return {
        "sets": len(results),
        "true_reps": true,
        "exact_count_pct": round(100.0 * exact / len(results), 1),
        "reps_right_pct": round(100.0 * (1 - (phantom + missed) / true), 1) if true else None,
        "phantom": phantom,
        "missed": missed,
        "angle_mae_deg": round(float(np.mean(angle)), 2) if angle else None,
        "rom_mae_deg": round(float(np.mean(np.abs(rom))), 2) if rom else None,
        "rom_bias_deg": round(float(np.mean(rom)), 2) if rom else None,
        "cue_tp": tp,
        "cue_fp": fp,
        "cue_fn": fn,
        "cue_precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "cue_recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "frames_refused": sum(r["refused"] for r in results),
    }


def _fmt(v: Any) -> str:
    return "–" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def markdown(new: dict[str, Any], old: dict[str, Any] | None = None) -> str:
    """One row per condition: this tracker's figures, the previous one's after each slash."""
    cols = ("exact_count_pct", "reps_right_pct", "phantom", "missed", "angle_mae_deg",
            "rom_mae_deg", "rom_bias_deg", "cue_precision", "cue_recall")  # fmt: skip
    lines = [
        "| condition | sets | true reps | " + " | ".join(cols) + " |",
        "|---|---:|---:|" + "---:|" * len(cols),
    ]
    for name, fig in new["conditions"].items():
        was = (old or {}).get("conditions", {}).get(name, {})
        cells = [_fmt(fig[c]) + (f" / {_fmt(was.get(c))}" if old is not None else "") for c in cols]
        lines.append(f"| {name} | {fig['sets']} | {fig['true_reps']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["CONDITIONS", "evaluate", "markdown", "run_case"]
