"""The words a kinematic definition is written in: sides, directions, views, severities, rule
kinds, the reserved cue codes and the limits, plus the field errors validation reports.

Both ``_validation`` (which checks untrusted JSON) and ``_kinematics`` (which builds the typed
definition, and validates it on construction) speak it, so it lives below them both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SCHEMA_VERSION = 1
MIN_HYSTERESIS_DEG = 10.0
MAX_FORM_RULES = 16

# Cue codes the tracker raises itself; a form rule may not reuse them.
CAMERA_VIEW_CUE = "camera_view"
TEMPO_FAST_CUE = "tempo_too_fast"
TEMPO_SLOW_CUE = "tempo_too_slow"
HOLD_CUE = "hold_longer"
RANGE_CUE = "more_range"
# Framing guidance, each said at most once a set.
TURN_SIDE_CUE = "turn_side"  # the measured limb faces away from a side-view camera
STEP_BACK_CUE = "step_back"  # a driving landmark is outside the picture
MORE_LIGHT_CUE = "more_light"  # the whole body is seen with low confidence
ASPECT_CUE = "aspect_unknown"  # the client did not say the camera's aspect ratio
REP_NOT_SEEN_CUE = "rep_not_seen"  # a rep in progress went out of sight and was not counted
RESERVED_CUE_CODES = frozenset(
    {CAMERA_VIEW_CUE, TEMPO_FAST_CUE, TEMPO_SLOW_CUE, HOLD_CUE, RANGE_CUE, TURN_SIDE_CUE,
     STEP_BACK_CUE, MORE_LIGHT_CUE, ASPECT_CUE, REP_NOT_SEEN_CUE}
)  # fmt: skip


class Side(StrEnum):
    """Which body side an angle is measured on.

    Triples are written with left-side landmarks; ``right`` mirrors them. For the driving angle
    ``both`` is the MEAN of the two sides (it halves independent noise and a one-sided dip cannot
    count a rep alone); for a form rule ``both`` means the worse of the two sides.
    """

    LEFT = "left"
    RIGHT = "right"
    BOTH = "both"


class Direction(StrEnum):
    """``flexion``: the angle goes down, then back up (squat knee 170 -> 90 -> 170).
    ``extension``: it goes up, then back down (shoulder flexion 20 -> 160 -> 20)."""

    FLEXION = "flexion"
    EXTENSION = "extension"


class CameraView(StrEnum):
    SIDE = "side"
    FRONT = "front"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class RuleKind(StrEnum):
    """What a form rule measures, in degrees; the rule fires when it exceeds its threshold.

    - ``knee_valgus``: the knee's medial deviation from the hip-ankle line in the frontal plane
      (front view, or world landmarks); not measurable from a side view, where it stays silent.
    - ``trunk_lean``: the mid-hip -> mid-shoulder line's angle from vertical.
    - ``asymmetry``: |left - right| of an angle (default: the driving angle).
    - ``angle_min`` / ``angle_max``: an angle falls below / rises above the threshold.
    """

    KNEE_VALGUS = "knee_valgus"
    TRUNK_LEAN = "trunk_lean"
    ASYMMETRY = "asymmetry"
    ANGLE_MIN = "angle_min"
    ANGLE_MAX = "angle_max"


THRESHOLD_LIMIT_DEG = {
    RuleKind.KNEE_VALGUS: 90.0,
    RuleKind.TRUNK_LEAN: 90.0,
    RuleKind.ASYMMETRY: 180.0,
    RuleKind.ANGLE_MIN: 180.0,
    RuleKind.ANGLE_MAX: 180.0,
}


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid field: ``path`` like ``form_rules[2].threshold_deg`` ("" for the whole)."""

    path: str
    message: str


class KinematicsError(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.path or '<root>'}: {e.message}" for e in errors))
