"""Strict readers for snapshot dicts: a restored tracker must never hold a half-valid state."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

E = TypeVar("E", bound=StrEnum)


def real(state: Mapping[str, Any], key: str) -> float:
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"snapshot field {key!r} must be a finite number")
    return float(value)


def optional_real(state: Mapping[str, Any], key: str) -> float | None:
    return None if state[key] is None else real(state, key)


def count(state: Mapping[str, Any], key: str) -> int:
    value = state[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"snapshot field {key!r} must be a non-negative integer")
    return value


def member(state: Mapping[str, Any], key: str, enum: type[E]) -> E:
    return enum(state[key])


def optional_member(state: Mapping[str, Any], key: str, enum: type[E]) -> E | None:
    return None if state[key] is None else enum(state[key])


def reals(state: Mapping[str, Any], key: str, most: int) -> list[float]:
    value = state[key]
    if not isinstance(value, list) or len(value) > most:
        raise ValueError(f"snapshot field {key!r} must be a list of at most {most} numbers")
    return [real({"v": v}, "v") for v in value]
