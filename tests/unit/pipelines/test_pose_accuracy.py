"""Accuracy goals of the pose pipeline, on a modest number of synthetic sets per exercise.

The same harness as ``bench/pose_accuracy.py`` (which also reports per-frame timings; timings
are not asserted here). At this sample size the >= 99% exact-count goal means every set exact.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.pose_accuracy import GOALS, run


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return run(sets_per_exercise=6, seed=2024)


def test_every_seeded_exercise_was_measured(report: dict[str, Any]) -> None:
    assert len(report["exercises"]) >= 10


def test_rep_counts_are_exact(report: dict[str, Any]) -> None:
    for slug, figures in report["exercises"].items():
        assert figures["exact_count_pct"] >= GOALS["exact_count_pct"], (slug, figures)


def test_no_phantom_reps(report: dict[str, Any]) -> None:
    assert {slug: e["phantom_reps"] for slug, e in report["exercises"].items()} == dict.fromkeys(
        report["exercises"], 0
    )


def test_joint_angle_error_on_clean_curves(report: dict[str, Any]) -> None:
    for slug, figures in report["exercises"].items():
        assert figures["angle_mae_deg"] <= GOALS["angle_mae_deg"], (slug, figures)
