"""Pose feedback: joint angles, One-Euro smoothing, rep counting, form cues. Pure numpy, no I/O.

``ExerciseTracker`` follows one set from batches of MediaPipe Pose landmarks and returns typed
events (``rep.counted``, ``form.cue``, ``tracking.lost``, ``tracking.ok``). It measures the
noise of what it sees and widens its thresholds, smoothing and confirmation to match (so reps
that stop short never count, from clean landmarks to noise of 2% of the frame height), reports
each rep's range of motion with its uncertainty, undoes left/right swaps, reads the near limb
of a side view where the exercise allows it, pauses counting while the camera view is wrong,
gives framing guidance once a set (``turn_side``, ``step_back``, ``more_light``,
``aspect_unknown``, ``rep_not_seen``) and handles faults of single frames frame by frame.
An exercise is described by ``Kinematics`` (stored as JSON; ``validate_kinematics`` checks it), and
``EXERCISES`` holds the seeded ones. ``synthesize_set`` makes landmark streams with known
ground truth for tests and benchmarks.
"""

from ._angles import joint_angles
from ._batch import measure_together
from ._cues import CueCooldown
from ._events import EventKind, FormCue, PoseEvent, RepCounted, TrackingLost, TrackingOk
from ._filters import OneEuroFilter, OneEuroParams
from ._input import Frames, PoseInputError
from ._kinematics import AngleSpec, FormRule, Kinematics, TempoBounds
from ._landmarks import Landmark
from ._library import EXERCISES, Exercise
from ._motions import Faults
from ._reps import RepCounter, RepPhase, RepRules, TempoVerdict
from ._synthetic import SyntheticOptions, SyntheticSet, synthesize_set
from ._tracker import ExerciseTracker, Measured, Measures, TrackerConfig
from ._validation import validate_kinematics
from ._vocabulary import (
    MIN_HYSTERESIS_DEG,
    CameraView,
    Direction,
    FieldError,
    KinematicsError,
    RuleKind,
    Severity,
    Side,
)

__all__ = [
    "EXERCISES",
    "MIN_HYSTERESIS_DEG",
    "AngleSpec",
    "CameraView",
    "CueCooldown",
    "Direction",
    "EventKind",
    "Exercise",
    "ExerciseTracker",
    "Faults",
    "FieldError",
    "FormCue",
    "FormRule",
    "Frames",
    "Kinematics",
    "KinematicsError",
    "Landmark",
    "Measured",
    "Measures",
    "OneEuroFilter",
    "OneEuroParams",
    "PoseEvent",
    "PoseInputError",
    "RepCounted",
    "RepCounter",
    "RepPhase",
    "RepRules",
    "RuleKind",
    "Severity",
    "Side",
    "SyntheticOptions",
    "SyntheticSet",
    "TempoBounds",
    "TempoVerdict",
    "TrackerConfig",
    "TrackingLost",
    "TrackingOk",
    "joint_angles",
    "measure_together",
    "synthesize_set",
    "validate_kinematics",
]
