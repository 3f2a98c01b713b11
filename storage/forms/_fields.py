"""What a field is and what an answer to it may be: the rules a clinic's field definition must
follow, and the check of a form's answers against the fields of the version it pins. Pure: no
I/O, so the staff routes, the public intake and the tests share one rule."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from storage.errors import Invalid

TYPES = ("text", "number", "choice", "date", "scale", "yes_no", "signature")
KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_LABEL = 200
MAX_OPTIONS = 50
MAX_OPTION = 200
MAX_TEXT = 5000
DEFAULT_SCALE = (0.0, 10.0)


@dataclass(frozen=True, slots=True)
class Field:
    """A field as a version freezes it (and as the summary reads it)."""

    key: str
    label: str
    type: str
    required: bool = False
    options: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    red_flag: bool = False
    alert_at: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "options": None if self.options is None else list(self.options),
            "min": self.min,
            "max": self.max,
            "red_flag": self.red_flag,
            "alert_at": self.alert_at,
        }

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Field:
        options = data.get("options")
        return cls(
            key=data["key"],
            label=data["label"],
            type=data["type"],
            required=bool(data.get("required", False)),
            options=None if options is None else tuple(options),
            min=data.get("min"),
            max=data.get("max"),
            red_flag=bool(data.get("red_flag", False)),
            alert_at=data.get("alert_at"),
        )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_field(spec: Mapping[str, Any]) -> Field:
    """A field definition as a clinic writes it (`type`, `key`, `label`, `options`, `min`,
    `max`, `required`, `red_flag`, `alert_at`), checked as a whole: what the JSON schema cannot
    say (which attributes go with which type, bounds in order). Raises Invalid per attribute."""
    errors: dict[str, str] = {}
    kind = spec.get("type")
    key = spec.get("key")
    label = spec.get("label")
    if kind not in TYPES:
        errors["type"] = "must be one of " + ", ".join(TYPES)
    if not isinstance(key, str) or not KEY.fullmatch(key):
        errors["key"] = "must be lower-case letters, digits and _ (starting with a letter)"
    if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL:
        errors["label"] = f"must be 1 to {MAX_LABEL} characters"
    options = spec.get("options")
    if kind == "choice":
        if (
            not isinstance(options, list)
            or not 1 <= len(options) <= MAX_OPTIONS
            or not all(isinstance(o, str) and o.strip() and len(o) <= MAX_OPTION for o in options)
        ):
            errors["options"] = f"must be 1 to {MAX_OPTIONS} non-empty texts"
        elif len(set(options)) != len(options):
            errors["options"] = "must not repeat"
    elif options is not None:
        errors["options"] = "are for choice fields only"
    low, high = spec.get("min"), spec.get("max")
    alert = spec.get("alert_at")
    if kind in ("number", "scale"):
        for name, value in (("min", low), ("max", high), ("alert_at", alert)):
            if value is not None and not _number(value):
                errors[name] = "must be a number"
        if kind == "scale":  # a scale is always bounded: 0 to 10 unless said otherwise
            low = DEFAULT_SCALE[0] if low is None else low
            high = DEFAULT_SCALE[1] if high is None else high
        if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
            errors["max"] = "must not be below min"
    else:
        for name, value in (("min", low), ("max", high), ("alert_at", alert)):
            if value is not None:
                errors[name] = "is for number and scale fields only"
    red_flag = spec.get("red_flag", False)
    if red_flag and kind != "yes_no":
        errors["red_flag"] = "is for yes/no fields only"
    if errors:
        raise Invalid(errors)
    return Field(
        key=str(key),
        label=str(label),
        type=str(kind),
        required=bool(spec.get("required", False)),
        options=tuple(options) if kind == "choice" and isinstance(options, list) else None,
        min=None if low is None else float(low),
        max=None if high is None else float(high),
        red_flag=bool(red_flag),
        alert_at=None if alert is None else float(alert),
    )


def _answer_error(f: Field, value: Any) -> str | None:
    """Why `value` is no answer to `f` (None: it is one)."""
    if f.type == "text":
        if not isinstance(value, str):
            return "must be a text"
        if len(value) > MAX_TEXT:
            return f"must be at most {MAX_TEXT} characters"
        return None
    if f.type in ("number", "scale"):
        if not _number(value):
            return "must be a number"
        if f.type == "scale" and value != int(value):
            return "must be a whole number"
        low, high = f.min, f.max
        if f.type == "scale":
            low = DEFAULT_SCALE[0] if low is None else low
            high = DEFAULT_SCALE[1] if high is None else high
        if low is not None and value < low:
            return f"must be at least {low:g}"
        if high is not None and value > high:
            return f"must be at most {high:g}"
        return None
    if f.type == "choice":
        return None if value in (f.options or ()) else "must be one of the field's options"
    if f.type == "date":
        if not isinstance(value, str):
            return "must be a date (YYYY-MM-DD)"
        try:
            date.fromisoformat(value)
        except ValueError:
            return "must be a date (YYYY-MM-DD)"
        return None if len(value) == 10 else "must be a date (YYYY-MM-DD)"
    if f.type == "yes_no":
        return None if isinstance(value, bool) else "must be true or false"
    return "is given by signing the form"  # signature


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_answers(
    fields: Sequence[Field],
    answers: Mapping[str, Any],
    *,
    complete: bool,
    signed: bool = False,
) -> dict[str, Any]:
    """`answers` checked against the version's fields: each answer must suit its field;
    `complete` (a submission or a signature) also needs every required field answered, a
    required signature field included (`signed`: the form is being signed now). Returns the
    answers to store (unanswered ones dropped). Raises Invalid with `answers.<key>` details."""
    by_key = {f.key: f for f in fields}
    errors: dict[str, str] = {}
    kept: dict[str, Any] = {}
    for key, value in answers.items():
        f = by_key.get(key)
        if f is None:
            errors[f"answers.{key}"[:200]] = "is not a field of this form"
            continue
        if value is None:
            continue
        problem = _answer_error(f, value)
        if problem is not None:
            errors[f"answers.{key}"] = problem
        elif not (f.type == "text" and _blank(value)):
            kept[key] = value
    if complete:
        for f in fields:
            if not f.required or f"answers.{f.key}" in errors:
                continue
            if f.type == "signature":
                if not signed:
                    errors[f"answers.{f.key}"] = "is required: sign the form"
            elif f.key not in kept:
                errors[f"answers.{f.key}"] = "is required"
    if errors:
        raise Invalid(errors)
    return kept
