"""Guided telerehab sessions: the pure state machine that walks a patient through a plan
session (exercise, set, rep target, rest timer, next exercise, completion summary), with pause,
resume, skip and abandon, fed by the pose tracker. No I/O; the pose workers (actors/) run it,
persist its snapshots and publish its events.
"""

from ._guide import GuideConfig, GuideEvent, SessionGuide
from ._live import DURABLE, LiveSession
from ._plan import PlanError, PlannedExercise, SessionPlan
from ._states import TRANSITIONS, Action, GuideError, PauseReason, SessionState
from ._tally import ExerciseTally

__all__ = [
    "DURABLE",
    "TRANSITIONS",
    "Action",
    "ExerciseTally",
    "GuideConfig",
    "GuideError",
    "GuideEvent",
    "LiveSession",
    "PauseReason",
    "PlanError",
    "PlannedExercise",
    "SessionGuide",
    "SessionPlan",
    "SessionState",
]
