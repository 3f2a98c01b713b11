"""The published request schemas refuse malformed plans and exercises field by field."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from pipelines.pose import EXERCISES
from server.errors import ApiError
from server.http import validate
from server.telerehab import schemas
from storage.telerehab import Invalid, canonical_kinematics


def plan(**item: Any) -> dict[str, Any]:
    exercise = {"exercise_id": str(uuid.uuid4()), "sets": 3, "reps": 10, "rest_s": 30, **item}
    return {"name": "Plan", "sessions": [{"exercises": [exercise]}]}


def fields_of(body: Any, schema: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ApiError) as caught:
        validate(body, schema)
    assert caught.value.status == 422
    return dict(caught.value.details["fields"])


def test_zero_sets_negative_rest_and_missing_exercise_are_per_field_errors() -> None:
    """Verifies REQ-TP-005: each offending field is named with its path."""
    validate(plan(), schemas.PLAN_CREATE)
    assert "sessions.0.exercises.0.sets" in fields_of(plan(sets=0), schemas.PLAN_CREATE)
    assert "sessions.0.exercises.0.rest_s" in fields_of(plan(rest_s=-1), schemas.PLAN_CREATE)
    body = plan()
    del body["sessions"][0]["exercises"][0]["exercise_id"]
    assert "sessions.0.exercises.0.exercise_id" in fields_of(body, schemas.PLAN_CREATE)
    assert "sessions" in fields_of({"name": "x", "sessions": []}, schemas.PLAN_CREATE)


def test_kinematics_errors_carry_the_kinematics_prefix() -> None:
    """Verifies REQ-EX-004: thresholds out of order, unknown landmarks, an empty hysteresis
    band and a non-object are refused under `kinematics.<path>`."""
    good = EXERCISES["biceps_curl"].kinematics.to_dict()
    assert canonical_kinematics(good) == good
    bad = copy.deepcopy(good)
    bad["driving"]["a"] = 33
    bad["enter_deg"] = bad["exit_deg"] + 5  # flexion: enter must be below exit
    with pytest.raises(Invalid) as caught:
        canonical_kinematics(bad)
    assert {"kinematics.driving.a", "kinematics.enter_deg"} <= set(caught.value.fields)
    same = copy.deepcopy(good)
    same["exit_deg"] = same["enter_deg"]
    with pytest.raises(Invalid) as caught:
        canonical_kinematics(same)
    assert "kinematics.enter_deg" in caught.value.fields
    with pytest.raises(Invalid) as caught:
        canonical_kinematics([1, 2, 3])
    assert caught.value.fields == {"kinematics": "must be an object"}


def test_questionnaire_scores_are_bounded() -> None:
    """Verifies REQ-TP-010: pain and difficulty are integers 0-10; the note is optional."""
    validate({"pain": 0, "difficulty": 10}, schemas.QUESTIONNAIRE)
    assert set(fields_of({"pain": -1, "difficulty": 11}, schemas.QUESTIONNAIRE)) == {
        "pain", "difficulty"}  # fmt: skip
