"""Kinematic definitions: JSON round trip, per-field validation, the seeded library."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.pose import (
    EXERCISES,
    AngleSpec,
    CameraView,
    Direction,
    Kinematics,
    KinematicsError,
    Landmark,
    Side,
    TempoBounds,
    validate_kinematics,
)

SEEDED = {
    "squat",
    "sit_to_stand",
    "forward_lunge",
    "heel_raise",
    "glute_bridge",
    "seated_knee_extension",
    "standing_hip_abduction",
    "shoulder_flexion",
    "shoulder_abduction",
    "biceps_curl",
}


def squat() -> dict[str, Any]:
    return copy.deepcopy(EXERCISES["squat"].kinematics.to_dict())


def paths(data: object) -> set[str]:
    return {error.path for error in validate_kinematics(data)}


def test_library_holds_the_ten_seeded_exercises_with_names() -> None:
    assert SEEDED <= set(EXERCISES)
    for slug, exercise in EXERCISES.items():
        assert exercise.slug == slug
        assert exercise.name


@pytest.mark.parametrize("slug", sorted(SEEDED))
def test_definitions_round_trip_through_json(slug: str) -> None:
    kinematics = EXERCISES[slug].kinematics
    stored = json.loads(json.dumps(kinematics.to_dict()))
    assert validate_kinematics(stored) == []
    assert Kinematics.from_dict(stored) == kinematics
    assert Kinematics.from_dict(stored).digest() == kinematics.digest()


def test_heel_raise_measures_the_ankle_and_hip_abduction_is_seen_from_the_front() -> None:
    heel = EXERCISES["heel_raise"].kinematics.driving
    assert (heel.a, heel.vertex, heel.c) == (
        Landmark.LEFT_KNEE,
        Landmark.LEFT_ANKLE,
        Landmark.LEFT_FOOT_INDEX,
    )
    assert EXERCISES["standing_hip_abduction"].kinematics.view is CameraView.FRONT
    assert EXERCISES["glute_bridge"].kinematics.hold_ms > 0


def test_right_and_both_mirror_a_left_side_triple() -> None:
    left = AngleSpec(Landmark.LEFT_HIP, Landmark.LEFT_KNEE, Landmark.LEFT_ANKLE)
    right = AngleSpec(left.a, left.vertex, left.c, Side.RIGHT)
    both = AngleSpec(left.a, left.vertex, left.c, Side.BOTH)
    assert right.triples() == ((Landmark.RIGHT_HIP, Landmark.RIGHT_KNEE, Landmark.RIGHT_ANKLE),)
    assert both.triples() == left.triples() + right.triples()


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda d: d["driving"].update(c=33), "driving.c"),
        (lambda d: d["driving"].update(a=-1), "driving.a"),
        (lambda d: d["driving"].update(c=d["driving"]["a"]), "driving"),
        (lambda d: d["driving"].update(a=24, vertex=26, c=28), "driving"),  # right-side triple
        (lambda d: d["driving"].update(side="middle"), "driving.side"),
        (lambda d: d.update(enter_deg=170.0), "enter_deg"),  # flexion needs enter < exit
        (lambda d: d.update(enter_deg=155.0), "exit_deg"),  # 5 degree band
        (lambda d: d.update(exit_deg=180.0), "exit_deg"),
        (lambda d: d.update(target_rom_deg=0), "target_rom_deg"),
        (lambda d: d.update(target_rom_deg=20.0), "target_rom_deg"),  # below the band
        (lambda d: d.update(tempo_ms={"min": 3000, "max": 3000}), "tempo_ms"),
        (lambda d: d.update(tempo_ms={"min": 1000}), "tempo_ms.max"),
        (lambda d: d.update(hold_ms=9000), "hold_ms"),
        (lambda d: d.update(view="top"), "view"),
        (lambda d: d.update(direction="sideways"), "direction"),
        (lambda d: d.update(enter_deg=True), "enter_deg"),
        (lambda d: d.update(enter_deg="100"), "enter_deg"),
        (lambda d: d.update(schema=2), "schema"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d.pop("view"), "view"),
        (lambda d: d.update(form_rules="none"), "form_rules"),
        (lambda d: d["form_rules"][0].update(kind="wobble"), "form_rules[0].kind"),
        (lambda d: d["form_rules"][0].update(threshold_deg=95.0), "form_rules[0].threshold_deg"),
        (lambda d: d["form_rules"][0].update(code="Chest Up"), "form_rules[0].code"),
        (lambda d: d["form_rules"][0].update(code="camera_view"), "form_rules[0].code"),
        (lambda d: d["form_rules"][1].update(code="chest_up"), "form_rules[1].code"),
        (lambda d: d["form_rules"][0].update(message=""), "form_rules[0].message"),
        (lambda d: d["form_rules"][0].update(severity="fatal"), "form_rules[0].severity"),
        (lambda d: d["form_rules"][0].update(side="left"), "form_rules[0].side"),
        (
            lambda d: d["form_rules"][0].update(angle={"a": 23, "vertex": 25, "c": 27}),
            "form_rules[0].angle",
        ),
        (lambda d: d["form_rules"][0].update(kind="angle_min"), "form_rules[0].angle"),
        (
            lambda d: d["form_rules"][0].update(
                kind="asymmetry", angle={"a": 23, "vertex": 25, "c": 27, "side": "left"}
            ),
            "form_rules[0].angle.side",
        ),
        (lambda d: d["form_rules"][0].update(persist_ms=-1), "form_rules[0].persist_ms"),
    ],
)
def test_invalid_fields_are_reported_by_path(change: Any, path: str) -> None:
    data = squat()
    change(data)
    assert path in paths(data)
    with pytest.raises(KinematicsError) as raised:
        Kinematics.from_dict(data)
    assert path in {error.path for error in raised.value.errors}


def test_extension_thresholds_are_ordered_the_other_way() -> None:
    data = EXERCISES["shoulder_flexion"].kinematics.to_dict()
    data["enter_deg"], data["exit_deg"] = data["exit_deg"], data["enter_deg"]
    assert "enter_deg" in paths(data)


def test_every_problem_is_reported_at_once() -> None:
    data = squat()
    data["driving"]["c"] = 40
    data["tempo_ms"] = {"min": 5, "max": 1}
    data["view"] = "top"
    assert {"driving.c", "tempo_ms", "view"} <= paths(data)


def test_a_non_object_is_one_root_error() -> None:
    assert [e.path for e in validate_kinematics([1, 2])] == [""]


def test_constructing_an_invalid_definition_raises() -> None:
    with pytest.raises(KinematicsError, match="hysteresis"):
        Kinematics(
            driving=AngleSpec(Landmark.LEFT_HIP, Landmark.LEFT_KNEE, Landmark.LEFT_ANKLE),
            direction=Direction.FLEXION,
            enter_deg=100.0,
            exit_deg=105.0,
            target_rom_deg=60.0,
            tempo=TempoBounds(1000, 5000),
            view=CameraView.SIDE,
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_validation_never_raises_on_arbitrary_json(value: object) -> None:
    assert isinstance(validate_kinematics(value), list)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(sorted(SEEDED)),
    st.sampled_from(["driving", "tempo_ms", "form_rules", "enter_deg", "view", "hold_ms"]),
    json_values,
)
def test_a_corrupted_field_is_rejected_or_loads(slug: str, key: str, value: object) -> None:
    data = EXERCISES[slug].kinematics.to_dict()
    data[key] = value
    errors = validate_kinematics(data)
    if errors:
        with pytest.raises(KinematicsError):
            Kinematics.from_dict(data)
    else:
        assert Kinematics.from_dict(data).to_dict()["view"] in ("side", "front")


def test_the_digest_does_not_depend_on_how_numbers_were_written() -> None:
    written = Kinematics(
        driving=AngleSpec(Landmark.LEFT_HIP, Landmark.LEFT_KNEE, Landmark.LEFT_ANKLE),
        direction=Direction.FLEXION,
        enter_deg=100,
        exit_deg=160,
        target_rom_deg=70,
        tempo=TempoBounds(1000, 5000),
        view=CameraView.SIDE,
    )
    stored = json.loads(json.dumps(written.to_dict()))
    assert Kinematics.from_dict(stored).digest() == written.digest()
