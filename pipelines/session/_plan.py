"""What a guided session runs: the prescribed exercises of one plan session, frozen at start.

A plan is carried to the pose worker and persisted with the session's state, so it is plain
JSON-ready data. ``kinematics`` is the exercise definition's tracking block (``Kinematics``
as a dict); ``None`` marks an untracked exercise, which the patient ends with a ``done`` command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.pose import Kinematics

MAX_EXERCISES = 50
MAX_SETS = 20
MAX_REPS = 500
MAX_REST_S = 3600


class PlanError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PlannedExercise:
    position: int
    exercise_id: str
    name: str
    sets: int
    reps: int
    rest_s: int
    kinematics: Mapping[str, Any] | None = None

    @property
    def tracked(self) -> bool:
        return self.kinematics is not None

    def definition(self) -> Kinematics:
        """The tracking definition; only for a tracked exercise."""
        if self.kinematics is None:
            raise PlanError(f"exercise at position {self.position} is not tracked")
        return Kinematics.from_dict(self.kinematics)

    def brief(self) -> dict[str, Any]:
        """As listed to clients (PROTOCOL.md session response and ``session.started``)."""
        return {
            "position": self.position,
            "exercise_id": self.exercise_id,
            "name": self.name,
            "sets": self.sets,
            "reps": self.reps,
            "rest_s": self.rest_s,
            "tracked": self.tracked,
        }

    def to_dict(self) -> dict[str, Any]:
        kinematics = None if self.kinematics is None else dict(self.kinematics)
        return {**self.brief(), "kinematics": kinematics}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannedExercise:
        item = cls(
            position=int(data["position"]),
            exercise_id=str(data["exercise_id"]),
            name=str(data["name"]),
            sets=int(data["sets"]),
            reps=int(data["reps"]),
            rest_s=int(data["rest_s"]),
            kinematics=data.get("kinematics"),
        )
        if not 1 <= item.sets <= MAX_SETS or not 1 <= item.reps <= MAX_REPS:
            raise PlanError(f"exercise at position {item.position}: sets or reps out of range")
        if not 0 <= item.rest_s <= MAX_REST_S:
            raise PlanError(f"exercise at position {item.position}: rest_s out of range")
        if item.kinematics is not None:
            item.definition()  # refuse a definition the tracker could not run, now
        return item


@dataclass(frozen=True, slots=True)
class SessionPlan:
    exercises: tuple[PlannedExercise, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.exercises) <= MAX_EXERCISES:
            raise PlanError(f"a session has 1..{MAX_EXERCISES} exercises")

    def to_dict(self) -> dict[str, Any]:
        return {"exercises": [e.to_dict() for e in self.exercises]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionPlan:
        try:
            return cls(tuple(PlannedExercise.from_dict(e) for e in data["exercises"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"malformed session plan: {exc}") from exc
