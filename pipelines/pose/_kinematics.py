"""An exercise's kinematic definition: what to measure, when a rep counts, what good form is.

Definitions are stored as JSONB by the exercise library, so every type here round-trips through
``to_dict()`` / ``from_dict()``, and ``validate_kinematics`` (``_validation.py``) checks untrusted
JSON field by field, never raising, before anything is built from it. A ``Kinematics`` value is
always valid: its constructor runs the same validation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._landmarks import mirror
from ._validation import validate_kinematics
from ._vocabulary import (
    SCHEMA_VERSION,
    CameraView,
    Direction,
    KinematicsError,
    RuleKind,
    Severity,
    Side,
)


@dataclass(frozen=True, slots=True)
class AngleSpec:
    """The angle at ``vertex`` between the rays to ``a`` and ``c`` (landmark indices)."""

    a: int
    vertex: int
    c: int
    side: Side = Side.LEFT

    def triples(self) -> tuple[tuple[int, int, int], ...]:
        """The index triples to measure: one per side, left first for ``both``."""
        left = (self.a, self.vertex, self.c)
        right = (mirror(self.a), mirror(self.vertex), mirror(self.c))
        if self.side is Side.LEFT:
            return (left,)
        if self.side is Side.RIGHT:
            return (right,)
        return (left, right)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": int(self.a),
            "vertex": int(self.vertex),
            "c": int(self.c),
            "side": self.side.value,
        }


@dataclass(frozen=True, slots=True)
class FormRule:
    """Fires when its measure is past ``threshold_deg`` for ``persist_ms``; the tracker then
    offers the cue (``code``, ``message``, ``severity``) to the cue cooldown."""

    kind: RuleKind
    threshold_deg: float
    code: str
    message: str
    severity: Severity = Severity.WARNING
    angle: AngleSpec | None = None
    side: Side = Side.BOTH  # knee_valgus only: which leg(s)
    persist_ms: int = 200

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "threshold_deg": float(self.threshold_deg),
            "code": self.code,
            "message": self.message,
            "severity": self.severity.value,
            "angle": None if self.angle is None else self.angle.to_dict(),
            "side": self.side.value,
            "persist_ms": int(self.persist_ms),
        }


@dataclass(frozen=True, slots=True)
class TempoBounds:
    """Accepted time outside the rest zone per rep (from crossing the exit threshold outwards to
    crossing it back), in milliseconds."""

    min_ms: int
    max_ms: int


@dataclass(frozen=True, slots=True)
class Kinematics:
    """How the tracker follows one exercise.

    A rep is counted when the driving angle passes ``enter_deg`` (towards the turning point) and
    then ``exit_deg`` (back to rest): below 100 then above 160 for a squat, above 130 then below
    45 for shoulder flexion. The band between the two is the hysteresis that absorbs jitter.
    """

    driving: AngleSpec
    direction: Direction
    enter_deg: float
    exit_deg: float
    target_rom_deg: float
    tempo: TempoBounds
    view: CameraView
    hold_ms: int = 0
    form_rules: tuple[FormRule, ...] = ()

    def __post_init__(self) -> None:
        errors = validate_kinematics(self.to_dict())
        if errors:
            raise KinematicsError(errors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "driving": self.driving.to_dict(),
            "direction": self.direction.value,
            "enter_deg": float(self.enter_deg),
            "exit_deg": float(self.exit_deg),
            "target_rom_deg": float(self.target_rom_deg),
            "tempo_ms": {"min": int(self.tempo.min_ms), "max": int(self.tempo.max_ms)},
            "hold_ms": int(self.hold_ms),
            "view": self.view.value,
            "form_rules": [rule.to_dict() for rule in self.form_rules],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Kinematics:
        """Build from stored JSON; raises ``KinematicsError`` listing every invalid field."""
        errors = validate_kinematics(data)
        if errors:
            raise KinematicsError(errors)
        tempo = data["tempo_ms"]
        return cls(
            driving=_angle_from(data["driving"]),
            direction=Direction(data["direction"]),
            enter_deg=float(data["enter_deg"]),
            exit_deg=float(data["exit_deg"]),
            target_rom_deg=float(data["target_rom_deg"]),
            tempo=TempoBounds(int(tempo["min"]), int(tempo["max"])),
            view=CameraView(data["view"]),
            hold_ms=int(data.get("hold_ms", 0)),
            form_rules=tuple(_rule_from(rule) for rule in data.get("form_rules", ())),
        )

    def digest(self) -> str:
        """A short stable fingerprint of the definition (snapshots carry it)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _angle_from(data: Mapping[str, Any]) -> AngleSpec:
    return AngleSpec(
        int(data["a"]), int(data["vertex"]), int(data["c"]), Side(data.get("side", "left"))
    )


def _rule_from(data: Mapping[str, Any]) -> FormRule:
    angle = data.get("angle")
    return FormRule(
        kind=RuleKind(data["kind"]),
        threshold_deg=float(data["threshold_deg"]),
        code=str(data["code"]),
        message=str(data["message"]),
        severity=Severity(data.get("severity", "warning")),
        angle=None if angle is None else _angle_from(angle),
        side=Side(data.get("side", "both")),
        persist_ms=int(data.get("persist_ms", 200)),
    )
