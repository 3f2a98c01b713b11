"""The exercise taxonomy: closed vocabularies, so filters and translations have stable keys.

Values are snake_case keys; clients translate the labels. Adding a value is a code change
reviewed like any clinical content change (regulatory habit: the vocabulary is part of the spec).
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    STRENGTH = "strength"
    MOBILITY = "mobility"
    STRETCHING = "stretching"
    BALANCE = "balance"
    ENDURANCE = "endurance"
    FUNCTIONAL = "functional"


class BodyRegion(StrEnum):
    NECK = "neck"
    SHOULDER = "shoulder"
    ELBOW = "elbow"
    WRIST_HAND = "wrist_hand"
    UPPER_BACK = "upper_back"
    LOWER_BACK = "lower_back"
    HIP = "hip"
    KNEE = "knee"
    ANKLE_FOOT = "ankle_foot"
    FULL_BODY = "full_body"


class Equipment(StrEnum):
    NONE = "none"
    CHAIR = "chair"
    MAT = "mat"
    WALL = "wall"
    STEP = "step"
    RESISTANCE_BAND = "resistance_band"
    DUMBBELL = "dumbbell"
    ANKLE_WEIGHT = "ankle_weight"
    BALL = "ball"


class Difficulty(StrEnum):
    BEGINNER = "beginner"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"


def vocabulary() -> dict[str, list[str]]:
    """Every vocabulary, as published by `GET /v1/exercise-taxonomy`."""
    return {
        "categories": [c.value for c in Category],
        "body_regions": [r.value for r in BodyRegion],
        "equipment": [e.value for e in Equipment],
        "difficulties": [d.value for d in Difficulty],
    }
