"""The seeded global library: ten common rehab exercises with real, valid definitions."""

from __future__ import annotations

from pipelines.pose import EXERCISES
from server.http import validate
from server.telerehab import schemas
from server.telerehab.seed import DEMO_SESSIONS, LIBRARY, exercise_data
from storage.telerehab import canonical_kinematics

REQUIRED = {"squat", "sit_to_stand", "forward_lunge", "heel_raise", "glute_bridge",
            "seated_knee_extension", "standing_hip_abduction", "shoulder_flexion",
            "shoulder_abduction", "biceps_curl"}  # fmt: skip


def test_the_ten_exercises_are_seeded_with_valid_definitions() -> None:
    """Verifies REQ-EX-009, REQ-EX-001: each required exercise has library text (steps,
    contraindications, taxonomy) accepted by the create schema, and a kinematic definition
    that passes validation unchanged."""
    assert REQUIRED <= set(EXERCISES) and set(LIBRARY) == set(EXERCISES)
    for slug in REQUIRED:
        data = exercise_data(slug)
        validate(data, schemas.EXERCISE_CREATE)
        assert data["contraindications"] and len(data["instructions"]) >= 3
        assert canonical_kinematics(data["kinematics"]) == data["kinematics"]
        assert data["translations"]["ro"]["name"]


def test_the_demo_plan_uses_seeded_exercises_only() -> None:
    """Verifies REQ-TP-013: every exercise of the demo plan is one of the seeded slugs."""
    slugs = [slug for _, items in DEMO_SESSIONS for slug, *_ in items]
    assert slugs and set(slugs) <= set(EXERCISES)
