"""Field-by-field validation of a stored kinematic definition (untrusted JSON)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, TypeVar

from ._landmarks import NUM_LANDMARKS, side_of
from ._vocabulary import (
    MAX_FORM_RULES,
    MIN_HYSTERESIS_DEG,
    RESERVED_CUE_CODES,
    SCHEMA_VERSION,
    THRESHOLD_LIMIT_DEG,
    CameraView,
    Direction,
    FieldError,
    RuleKind,
    Severity,
    Side,
)

E = TypeVar("E", bound=StrEnum)

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_MAX_MESSAGE = 200
_MAX_TEMPO_MS = 600_000
_MAX_PERSIST_MS = 10_000

_TOP_REQUIRED = {"driving", "direction", "enter_deg", "exit_deg", "target_rom_deg", "tempo_ms"}
_TOP_REQUIRED |= {"view"}
_TOP_OPTIONAL = {"schema", "hold_ms", "form_rules"}
_RULE_REQUIRED = {"kind", "threshold_deg", "code", "message"}
_RULE_OPTIONAL = {"severity", "angle", "side", "persist_ms"}


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Checker:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def obj(
        self, value: object, path: str, required: set[str], optional: set[str]
    ) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.fail(path, "must be an object")
            return None
        for key in value:
            if key not in required and key not in optional:
                self.fail(_at(path, str(key)), "unknown field")
        for key in sorted(required - set(value)):
            self.fail(_at(path, key), "is required")
        return value

    def number(
        self, obj: Mapping[str, Any], key: str, path: str, lo: float, hi: float
    ) -> float | None:
        """A number in the open interval (lo, hi)."""
        if key not in obj:
            return None
        value = obj[key]
        where = _at(path, key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(where, "must be a number")
            return None
        if not math.isfinite(value) or not lo < value < hi:
            self.fail(where, f"must be greater than {lo:g} and less than {hi:g}")
            return None
        return float(value)

    def integer(self, obj: Mapping[str, Any], key: str, path: str, lo: int, hi: int) -> int | None:
        """An integer in the closed interval [lo, hi]."""
        if key not in obj:
            return None
        value = obj[key]
        where = _at(path, key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(where, "must be an integer")
            return None
        if not lo <= value <= hi:
            self.fail(where, f"must be between {lo} and {hi}")
            return None
        return value

    def choice(self, obj: Mapping[str, Any], key: str, path: str, enum: type[E]) -> E | None:
        if key not in obj:
            return None
        value = obj[key]
        allowed = [member.value for member in enum]
        if not isinstance(value, str) or value not in allowed:
            self.fail(_at(path, key), f"must be one of {', '.join(allowed)}")
            return None
        return enum(value)

    def text(self, obj: Mapping[str, Any], key: str, path: str) -> str | None:
        if key not in obj:
            return None
        value = obj[key]
        if not isinstance(value, str) or not value.strip() or len(value) > _MAX_MESSAGE:
            self.fail(_at(path, key), f"must be a non-empty string of at most {_MAX_MESSAGE}")
            return None
        return value

    def angle(self, value: object, path: str) -> Side | None:
        """Checks an angle spec; returns its side when it is valid."""
        obj = self.obj(value, path, {"a", "vertex", "c"}, {"side"})
        if obj is None:
            return None
        before = len(self.errors)
        indices = [
            self.integer(obj, key, path, 0, NUM_LANDMARKS - 1) for key in ("a", "vertex", "c")
        ]
        side = self.choice(obj, "side", path, Side) if "side" in obj else Side.LEFT
        if None not in indices and len(set(indices)) < 3:
            self.fail(path, "a, vertex and c must be three different landmarks")
        sides = {side_of(i) for i in indices if i is not None} - {"mid"}
        if sides == {"right"}:
            self.fail(path, "write the triple with left-side landmarks; side 'right' mirrors it")
        return side if len(self.errors) == before else None


def validate_kinematics(data: object) -> list[FieldError]:
    """Every problem with a stored definition, as per-field errors; ``[]`` when it is valid."""
    check = _Checker()
    obj = check.obj(data, "", _TOP_REQUIRED, _TOP_OPTIONAL)
    if obj is None:
        return check.errors
    if "schema" in obj and (isinstance(obj["schema"], bool) or obj["schema"] != SCHEMA_VERSION):
        check.fail("schema", f"must be {SCHEMA_VERSION}")
    if "driving" in obj:
        check.angle(obj["driving"], "driving")
    direction = check.choice(obj, "direction", "", Direction)
    enter = check.number(obj, "enter_deg", "", 0.0, 180.0)
    exit_ = check.number(obj, "exit_deg", "", 0.0, 180.0)
    rom = check.number(obj, "target_rom_deg", "", 0.0, 180.0 + 1e-9)
    if direction is not None and enter is not None and exit_ is not None:
        band = exit_ - enter if direction is Direction.FLEXION else enter - exit_
        if band <= 0:
            order = "below" if direction is Direction.FLEXION else "above"
            check.fail(
                "enter_deg",
                f"for {direction.value} enter_deg must be {order} exit_deg "
                "(the angle reaches the enter threshold first, then returns past exit)",
            )
        elif band < MIN_HYSTERESIS_DEG:
            check.fail(
                "exit_deg",
                f"the hysteresis band |exit_deg - enter_deg| must be at least "
                f"{MIN_HYSTERESIS_DEG:g} degrees (got {band:g})",
            )
        elif rom is not None and rom < band:
            check.fail(
                "target_rom_deg",
                f"must be at least the hysteresis band ({band:g}): every counted rep spans it",
            )
    max_ms = _check_tempo(check, obj)
    hold = check.integer(obj, "hold_ms", "", 0, _MAX_TEMPO_MS)
    if hold is not None and max_ms is not None and hold >= max_ms:
        check.fail("hold_ms", "must be shorter than tempo_ms.max (the hold is part of the rep)")
    check.choice(obj, "view", "", CameraView)
    if "form_rules" in obj:
        _check_rules(check, obj["form_rules"])
    return check.errors


def _check_tempo(check: _Checker, obj: Mapping[str, Any]) -> int | None:
    if "tempo_ms" not in obj:
        return None
    tempo = check.obj(obj["tempo_ms"], "tempo_ms", {"min", "max"}, set())
    if tempo is None:
        return None
    low = check.integer(tempo, "min", "tempo_ms", 1, _MAX_TEMPO_MS)
    high = check.integer(tempo, "max", "tempo_ms", 1, _MAX_TEMPO_MS)
    if low is not None and high is not None and low >= high:
        check.fail("tempo_ms", "min must be less than max")
        return None
    return high


def _check_rules(check: _Checker, rules: object) -> None:
    if not isinstance(rules, Sequence) or isinstance(rules, str | bytes):
        check.fail("form_rules", "must be a list")
        return
    if len(rules) > MAX_FORM_RULES:
        check.fail("form_rules", f"at most {MAX_FORM_RULES} rules")
        return
    seen: set[str] = set()
    for i, raw in enumerate(rules):
        path = _at("form_rules", i)
        rule = check.obj(raw, path, _RULE_REQUIRED, _RULE_OPTIONAL)
        if rule is None:
            continue
        kind = check.choice(rule, "kind", path, RuleKind)
        limit = 180.0 if kind is None else THRESHOLD_LIMIT_DEG[kind]
        check.number(rule, "threshold_deg", path, 0.0, limit)
        code = rule.get("code")
        if "code" in rule:
            if not isinstance(code, str) or not _CODE.match(code):
                check.fail(_at(path, "code"), "must be snake_case: a-z, 0-9, _ (at most 64)")
            elif code in RESERVED_CUE_CODES:
                check.fail(_at(path, "code"), "is reserved for the tracker's own cues")
            elif code in seen:
                check.fail(_at(path, "code"), "is used by another rule")
            else:
                seen.add(code)
        check.text(rule, "message", path)
        check.choice(rule, "severity", path, Severity)
        check.integer(rule, "persist_ms", path, 0, _MAX_PERSIST_MS)
        side = check.choice(rule, "side", path, Side)
        angle = rule.get("angle")
        if kind is None:
            continue
        if kind in (RuleKind.ANGLE_MIN, RuleKind.ANGLE_MAX) and angle is None:
            check.fail(_at(path, "angle"), f"is required for {kind.value}")
        elif kind in (RuleKind.KNEE_VALGUS, RuleKind.TRUNK_LEAN) and angle is not None:
            check.fail(_at(path, "angle"), f"does not apply to {kind.value}")
        elif angle is not None:
            angle_side = check.angle(angle, _at(path, "angle"))
            if kind is RuleKind.ASYMMETRY and angle_side not in (None, Side.BOTH):
                check.fail(_at(path, "angle.side"), "asymmetry compares both sides: use 'both'")
        if side not in (None, Side.BOTH) and kind is not RuleKind.KNEE_VALGUS:
            check.fail(_at(path, "side"), "applies to knee_valgus only (angles carry a side)")
