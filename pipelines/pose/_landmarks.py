"""MediaPipe Pose's 33 landmarks, by index, and the left/right mirror between them."""

from __future__ import annotations

from enum import IntEnum
from typing import Literal

NUM_LANDMARKS = 33


class Landmark(IntEnum):
    """Index of a landmark in MediaPipe Pose's output; "left" is the person's left."""

    NOSE = 0
    LEFT_EYE_INNER = 1
    LEFT_EYE = 2
    LEFT_EYE_OUTER = 3
    RIGHT_EYE_INNER = 4
    RIGHT_EYE = 5
    RIGHT_EYE_OUTER = 6
    LEFT_EAR = 7
    RIGHT_EAR = 8
    MOUTH_LEFT = 9
    MOUTH_RIGHT = 10
    LEFT_SHOULDER = 11
    RIGHT_SHOULDER = 12
    LEFT_ELBOW = 13
    RIGHT_ELBOW = 14
    LEFT_WRIST = 15
    RIGHT_WRIST = 16
    LEFT_PINKY = 17
    RIGHT_PINKY = 18
    LEFT_INDEX = 19
    RIGHT_INDEX = 20
    LEFT_THUMB = 21
    RIGHT_THUMB = 22
    LEFT_HIP = 23
    RIGHT_HIP = 24
    LEFT_KNEE = 25
    RIGHT_KNEE = 26
    LEFT_ANKLE = 27
    RIGHT_ANKLE = 28
    LEFT_HEEL = 29
    RIGHT_HEEL = 30
    LEFT_FOOT_INDEX = 31
    RIGHT_FOOT_INDEX = 32


BodySide = Literal["left", "right", "mid"]


def _side(member: Landmark) -> BodySide:
    name = member.name
    if name.startswith("LEFT_") or name.endswith("_LEFT"):
        return "left"
    if name.startswith("RIGHT_") or name.endswith("_RIGHT"):
        return "right"
    return "mid"


def _mirror_name(name: str) -> str:
    for a, b in (("LEFT", "RIGHT"), ("RIGHT", "LEFT")):
        if name.startswith(a + "_"):
            return b + name[len(a) :]
        if name.endswith("_" + a):
            return name[: -len(a)] + b
    return name


_SIDES: tuple[BodySide, ...] = tuple(_side(m) for m in Landmark)
_MIRROR: tuple[int, ...] = tuple(int(Landmark[_mirror_name(m.name)]) for m in Landmark)


def side_of(index: int) -> BodySide:
    """The body side a landmark belongs to; the nose is ``mid``."""
    return _SIDES[index]


def mirror(index: int) -> int:
    """The same landmark on the other side of the body (the nose maps to itself)."""
    return _MIRROR[index]
