"""The seeded exercise definitions, keyed by a stable slug.

Thresholds leave about 10 degrees between each threshold and the angle a patient typically
reaches at rest and at the turning point, so jitter cannot fake a crossing and a rehab patient
with a reduced range still counts. Tempo bounds are times outside the rest zone (see
``TempoBounds``); holds are times past the enter threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ._kinematics import AngleSpec, FormRule, Kinematics, TempoBounds
from ._landmarks import Landmark as L
from ._vocabulary import CameraView, Direction, RuleKind, Severity, Side


@dataclass(frozen=True, slots=True)
class Exercise:
    slug: str
    name: str
    kinematics: Kinematics


def _lean(threshold: float, code: str, message: str, severity: Severity) -> FormRule:
    return FormRule(RuleKind.TRUNK_LEAN, threshold, code, message, severity)


_KNEES_OUT = FormRule(
    RuleKind.KNEE_VALGUS, 12.0, "knees_out", "Keep your knees in line with your toes"
)
_HIP_KNEE_ANKLE = (L.LEFT_HIP, L.LEFT_KNEE, L.LEFT_ANKLE)
_HIP_SHOULDER_ELBOW = (L.LEFT_HIP, L.LEFT_SHOULDER, L.LEFT_ELBOW)
_SHOULDER_ELBOW_WRIST = (L.LEFT_SHOULDER, L.LEFT_ELBOW, L.LEFT_WRIST)


def _angle(triple: tuple[L, L, L], side: Side = Side.LEFT) -> AngleSpec:
    return AngleSpec(int(triple[0]), int(triple[1]), int(triple[2]), side)


_DEFINITIONS = (
    Exercise(
        "squat",
        "Squat",
        Kinematics(
            driving=_angle(_HIP_KNEE_ANKLE),
            direction=Direction.FLEXION,
            enter_deg=100.0,
            exit_deg=160.0,
            target_rom_deg=75.0,
            tempo=TempoBounds(1200, 8000),
            view=CameraView.SIDE,
            form_rules=(
                _lean(50.0, "chest_up", "Keep your chest up", Severity.WARNING),
                _KNEES_OUT,
            ),
        ),
    ),
    Exercise(
        "sit_to_stand",
        "Sit to stand",
        Kinematics(
            driving=_angle(_HIP_KNEE_ANKLE),
            direction=Direction.EXTENSION,
            enter_deg=160.0,
            exit_deg=110.0,
            target_rom_deg=75.0,
            tempo=TempoBounds(1000, 8000),
            view=CameraView.SIDE,
            form_rules=(
                _lean(60.0, "chest_up", "Keep your chest up as you rise", Severity.INFO),
                _KNEES_OUT,
            ),
        ),
    ),
    Exercise(
        "forward_lunge",
        "Forward lunge",
        Kinematics(
            driving=_angle(_HIP_KNEE_ANKLE),
            direction=Direction.FLEXION,
            enter_deg=105.0,
            exit_deg=160.0,
            target_rom_deg=70.0,
            tempo=TempoBounds(1200, 8000),
            view=CameraView.SIDE,
            form_rules=(
                _lean(25.0, "torso_upright", "Keep your upper body upright", Severity.WARNING),
                _KNEES_OUT,
            ),
        ),
    ),
    Exercise(
        "heel_raise",
        "Heel raise",
        Kinematics(
            driving=_angle((L.LEFT_KNEE, L.LEFT_ANKLE, L.LEFT_FOOT_INDEX)),
            direction=Direction.EXTENSION,
            enter_deg=140.0,
            exit_deg=125.0,
            target_rom_deg=30.0,
            tempo=TempoBounds(1500, 10000),
            hold_ms=1000,
            view=CameraView.SIDE,
            form_rules=(
                FormRule(
                    RuleKind.ANGLE_MIN,
                    160.0,
                    "knees_straight",
                    "Keep your knees straight",
                    Severity.INFO,
                    angle=_angle(_HIP_KNEE_ANKLE),
                ),
                _lean(15.0, "stand_tall", "Stand tall", Severity.INFO),
            ),
        ),
    ),
    Exercise(
        "glute_bridge",
        "Glute bridge",
        Kinematics(
            driving=_angle((L.LEFT_SHOULDER, L.LEFT_HIP, L.LEFT_KNEE)),
            direction=Direction.EXTENSION,
            enter_deg=160.0,
            exit_deg=142.0,
            target_rom_deg=35.0,
            tempo=TempoBounds(2500, 12000),
            hold_ms=2000,
            view=CameraView.SIDE,
            form_rules=(
                FormRule(
                    RuleKind.ANGLE_MAX,
                    125.0,
                    "feet_closer",
                    "Bring your feet a little closer to your hips",
                    Severity.INFO,
                    angle=_angle(_HIP_KNEE_ANKLE),
                    persist_ms=1000,
                ),
            ),
        ),
    ),
    Exercise(
        "seated_knee_extension",
        "Seated knee extension",
        Kinematics(
            driving=_angle(_HIP_KNEE_ANKLE),
            direction=Direction.EXTENSION,
            enter_deg=155.0,
            exit_deg=110.0,
            target_rom_deg=65.0,
            tempo=TempoBounds(1500, 10000),
            hold_ms=1000,
            view=CameraView.SIDE,
            form_rules=(_lean(20.0, "sit_tall", "Sit tall against the backrest", Severity.INFO),),
        ),
    ),
    Exercise(
        "standing_hip_abduction",
        "Standing hip abduction",
        Kinematics(
            # In the frontal plane the trunk-to-leg angle is about 175 standing and drops by
            # the abduction angle as the leg swings out.
            driving=_angle((L.LEFT_SHOULDER, L.LEFT_HIP, L.LEFT_ANKLE)),
            direction=Direction.FLEXION,
            enter_deg=150.0,
            exit_deg=165.0,
            target_rom_deg=25.0,
            tempo=TempoBounds(1000, 8000),
            view=CameraView.FRONT,
            form_rules=(
                _lean(10.0, "trunk_upright", "Keep your trunk upright", Severity.WARNING),
                FormRule(
                    RuleKind.ANGLE_MIN,
                    160.0,
                    "straight_leg",
                    "Keep the moving leg straight",
                    Severity.INFO,
                    angle=_angle(_HIP_KNEE_ANKLE),
                ),
            ),
        ),
    ),
    Exercise(
        "shoulder_flexion",
        "Shoulder flexion",
        Kinematics(
            driving=_angle(_HIP_SHOULDER_ELBOW),
            direction=Direction.EXTENSION,
            enter_deg=130.0,
            exit_deg=45.0,
            target_rom_deg=120.0,
            tempo=TempoBounds(1500, 8000),
            view=CameraView.SIDE,
            form_rules=(
                FormRule(
                    RuleKind.ANGLE_MIN,
                    150.0,
                    "elbow_straight",
                    "Keep your elbow straight",
                    Severity.INFO,
                    angle=_angle(_SHOULDER_ELBOW_WRIST),
                ),
                _lean(
                    15.0, "back_still", "Keep your back still; don't lean back", Severity.WARNING
                ),
            ),
        ),
    ),
    Exercise(
        "shoulder_abduction",
        "Shoulder abduction",
        Kinematics(
            driving=_angle(_HIP_SHOULDER_ELBOW, Side.BOTH),
            direction=Direction.EXTENSION,
            enter_deg=120.0,
            exit_deg=45.0,
            target_rom_deg=110.0,
            tempo=TempoBounds(1500, 8000),
            view=CameraView.FRONT,
            form_rules=(
                FormRule(
                    RuleKind.ASYMMETRY, 20.0, "arms_even", "Raise both arms evenly", Severity.INFO
                ),
                _lean(10.0, "trunk_still", "Keep your trunk still", Severity.WARNING),
                FormRule(
                    RuleKind.ANGLE_MIN,
                    150.0,
                    "elbows_straight",
                    "Keep your elbows straight",
                    Severity.INFO,
                    angle=_angle(_SHOULDER_ELBOW_WRIST, Side.BOTH),
                ),
            ),
        ),
    ),
    Exercise(
        "biceps_curl",
        "Biceps curl",
        Kinematics(
            driving=_angle(_SHOULDER_ELBOW_WRIST),
            direction=Direction.FLEXION,
            enter_deg=70.0,
            exit_deg=140.0,
            target_rom_deg=100.0,
            tempo=TempoBounds(1200, 8000),
            view=CameraView.SIDE,
            form_rules=(
                FormRule(
                    RuleKind.ANGLE_MAX,
                    30.0,
                    "elbow_by_side",
                    "Keep your elbow by your side",
                    Severity.WARNING,
                    angle=_angle(_HIP_SHOULDER_ELBOW),
                ),
                _lean(12.0, "no_swing", "Don't swing your body", Severity.INFO),
            ),
        ),
    ),
)

EXERCISES: Mapping[str, Exercise] = MappingProxyType({e.slug: e for e in _DEFINITIONS})
