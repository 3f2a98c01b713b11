"""Form rules: each rule's measure per frame (vectorised) and its persistence over frames.

A measure is NaN, and its rule silent, where it cannot be trusted: a landmark it needs is not
visible, or (knee valgus) the frontal plane cannot be seen, i.e. 2-D landmarks from a side view.
A rule fires once its measure has stayed past the threshold for ``persist_ms``, so one noisy
frame never produces a cue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import _state
from ._angles import (
    UP_3D,
    AngleMeasure,
    BoolArray,
    FloatArray,
    IntArray,
    angle_between,
    inclination,
)
from ._cues import Cue
from ._kinematics import AngleSpec, FormRule
from ._landmarks import Landmark
from ._vocabulary import RuleKind, Side

_SHOULDERS = (Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER)
_HIPS = (Landmark.LEFT_HIP, Landmark.RIGHT_HIP)
_LEGS = {
    Side.LEFT: (Landmark.LEFT_HIP, Landmark.LEFT_KNEE, Landmark.LEFT_ANKLE, Landmark.RIGHT_HIP),
    Side.RIGHT: (Landmark.RIGHT_HIP, Landmark.RIGHT_KNEE, Landmark.RIGHT_ANKLE, Landmark.LEFT_HIP),
}


def trunk_lean(points: FloatArray) -> FloatArray:
    """Angle of the mid-hip -> mid-shoulder line from vertical, degrees."""
    # (a + b) / 2 is what .mean(axis=1) computes for two points, at a fraction of its cost
    shoulders = (points[:, _SHOULDERS[0]] + points[:, _SHOULDERS[1]]) / 2.0
    hips = (points[:, _HIPS[0]] + points[:, _HIPS[1]]) / 2.0
    return inclination(shoulders - hips)


def frontal_plane(points: FloatArray) -> FloatArray:
    """(N, 33, 2) coordinates in the frontal plane: image x, y for 2-D points; for 3-D world
    points, the plane through the hip line and the vertical (not the trunk, which tilts)."""
    if points.shape[-1] == 2:
        return points
    lateral = points[:, Landmark.LEFT_HIP] - points[:, Landmark.RIGHT_HIP]
    lateral = lateral - np.outer(lateral @ UP_3D, UP_3D)
    norm = np.linalg.norm(lateral, axis=-1, keepdims=True)
    lateral = lateral / np.where(norm > 1e-9, norm, np.nan)
    return np.stack([np.einsum("nkd,nd->nk", points, lateral), points @ UP_3D], axis=-1)


def knee_valgus(frontal: FloatArray, side: Side) -> FloatArray:
    """Medial deviation of the knee from the hip-ankle line in the frontal plane, degrees
    (positive = knee inside the line, valgus; negative = varus)."""
    hip_i, knee_i, ankle_i, other_i = _LEGS[side]
    hip, knee, ankle = frontal[:, hip_i], frontal[:, knee_i], frontal[:, ankle_i]
    deviation = 180.0 - angle_between(hip - knee, ankle - knee)
    line = ankle - hip
    t = np.sum((knee - hip) * line, axis=-1) / np.maximum(np.sum(line * line, axis=-1), 1e-12)
    offset = knee - (hip + t[:, None] * line)
    medial = np.sign(np.sum(offset * (frontal[:, other_i] - hip), axis=-1))
    signed: FloatArray = deviation * np.where(medial == 0, 1.0, medial)
    return signed


class RuleSet:
    """The definition's form rules, measured together: ``measure`` -> (N, R) degrees."""

    def __init__(self, rules: Sequence[FormRule], driving: AngleSpec) -> None:
        self.rules = tuple(rules)
        self.cues = tuple(Cue(r.code, r.message, r.severity) for r in self.rules)
        self._angles: list[AngleMeasure | None] = []
        self._needs: list[IntArray] = []
        for rule in self.rules:
            measure = None
            if rule.kind in (RuleKind.ANGLE_MIN, RuleKind.ANGLE_MAX) and rule.angle is not None:
                measure = AngleMeasure(rule.angle)
            elif rule.kind is RuleKind.ASYMMETRY:
                spec = rule.angle or driving
                measure = AngleMeasure(AngleSpec(spec.a, spec.vertex, spec.c, Side.BOTH))
            self._angles.append(measure)
            self._needs.append(self._landmarks(rule, measure))
        sign = [-1.0 if r.kind is RuleKind.ANGLE_MIN else 1.0 for r in self.rules]
        self._sign = np.array(sign)
        self._threshold = np.array([r.threshold_deg for r in self.rules])

    @staticmethod
    def _landmarks(rule: FormRule, measure: AngleMeasure | None) -> IntArray:
        if measure is not None:
            return measure.landmarks
        if rule.kind is RuleKind.TRUNK_LEAN:
            return np.array(_SHOULDERS + _HIPS, dtype=np.intp)
        legs = (Side.LEFT, Side.RIGHT) if rule.side is Side.BOTH else (rule.side,)
        return np.unique(np.array([_LEGS[s] for s in legs], dtype=np.intp))

    def measure(self, points: FloatArray, visible: BoolArray, frontal: bool) -> FloatArray:
        out = np.full((len(points), len(self.rules)), np.nan)
        plane: FloatArray | None = None
        for j, (rule, angle) in enumerate(zip(self.rules, self._angles, strict=True)):
            if rule.kind is RuleKind.TRUNK_LEAN:
                value = trunk_lean(points)
            elif rule.kind is RuleKind.KNEE_VALGUS:
                if not frontal:
                    continue
                plane = frontal_plane(points) if plane is None else plane
                legs = (Side.LEFT, Side.RIGHT) if rule.side is Side.BOTH else (rule.side,)
                value = np.max(np.stack([knee_valgus(plane, s) for s in legs]), axis=0)
            elif angle is not None and rule.kind is RuleKind.ASYMMETRY:
                sides = angle.per_side(points)
                value = np.abs(sides[:, 0] - sides[:, 1])
            elif angle is not None:
                sides = angle.per_side(points)
                value = sides.min(axis=1) if rule.kind is RuleKind.ANGLE_MIN else sides.max(axis=1)
            else:
                continue
            seen = visible[:, self._needs[j]].all(axis=1)
            out[:, j] = np.where(seen, value, np.nan)
        return out

    def violated(self, values: FloatArray, margins: FloatArray | None = None) -> BoolArray:
        """Which rules are past their threshold for one frame's (R,) measures (NaN: no), by
        more than ``margins`` (degrees; the measures' own noise, so noise alone never fires)."""
        past = self._sign * (values - self._threshold)
        return np.asarray(past > (0.0 if margins is None else margins))


class FormMonitor:
    """Persistence of each rule's violation; ``step`` returns the rules that are due."""

    __slots__ = ("_persist", "_since")

    def __init__(self, rules: Sequence[FormRule]) -> None:
        self._persist = [float(r.persist_ms) for r in rules]
        self._since: list[float | None] = [None] * len(rules)

    def step(
        self, t_ms: float, violated: BoolArray, extra_ms: list[float] | None = None
    ) -> list[int]:
        """The rules due at ``t_ms``; ``extra_ms`` lengthens each rule's persistence (the
        tracker adds time in proportion to the measure's noise)."""
        due = []
        for j, bad in enumerate(violated.tolist()):
            if not bad:
                self._since[j] = None
                continue
            since = self._since[j]
            if since is None:
                self._since[j] = since = t_ms
            if t_ms - since >= self._persist[j] + (0.0 if extra_ms is None else extra_ms[j]):
                due.append(j)
        return due

    def reset(self) -> None:
        self._since = [None] * len(self._since)

    def snapshot(self) -> dict[str, Any]:
        return {"since": list(self._since)}

    def restore(self, state: Mapping[str, Any]) -> None:
        since = state["since"]
        if not isinstance(since, list) or len(since) != len(self._since):
            raise ValueError("snapshot field 'since' does not match the form rules")
        self._since = [_state.optional_real({"v": v}, "v") for v in since]
