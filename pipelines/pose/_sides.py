"""Which limb a one-sided driving angle is read from: left/right swaps undone, the far limb
avoided where the exercise allows it, and the patient told to turn where it does not.

MediaPipe sometimes swaps the labels of the two sides for a few frames. Physically a limb moves
continuously, so a frame whose two sides each land clearly where the other side was a frame
before is a swap (or its end), beyond what the points' usual movement explains; the labels are
swapped back until the next such jump, and for at most ``MAX_SWAP_MS``.

A jump alone cannot tell a swap's start from its end: a swap that began while the limbs
overlapped (arms hanging side by side) shows only its end, which then reads as a start, and every
later swap is read the wrong way round until the bound runs out (a rep lost). So the torso also
says which way the labels are: its left-minus-right vector (shoulders and hips, in image x and
depth z) points to the camera's right in a front view and towards the camera in a side view, and
turns only as fast as the person does, while a swap reverses it at once. Against the direction
it has held, a clearly reversed torso means crossed labels and a clearly kept one right labels,
whatever the jumps said; only when the torso cannot tell (too short, or side-on to the
direction) do the jumps decide. Labels are right by default: a torso read as reversed for longer
than ``RELEARN_MS`` (several times MediaPipe's longest swaps) means the direction was learnt
during a swap, and it is learnt afresh.

Seen from the side, the far limb is hidden behind the body and MediaPipe only guesses it (low
visibility). When the prescribed side is the far one: if both sides have been moving together
(a squat, a bridge: the two angles agree), the near side is measured instead; if not (one arm
curls, the other hangs), nothing is counted and the patient is asked to turn the other way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from . import _state

SWAP_RATIO = 0.5  # the crossed match must be at most half the straight one ...
SWAP_MIN = 0.04  # ... and shorter by this much (image heights)
CONTINUITY_MS = 400.0  # positions older than this say nothing about the next frame
# A swap that begins while the two sides overlap cannot be seen, so its end looks like a
# beginning and the labels are read crossed until this runs out: MediaPipe's own swaps last a few
# frames, so a short bound costs little, and a long one costs the rep in progress.
MAX_SWAP_MS = 900.0
FACING_MIN = 0.08  # image heights: a torso vector shorter than this says nothing (noise, side-on)
FACING_COS = 0.5  # reversed or kept: within 60 degrees of the opposite or the same direction
FACING_RATE = 0.05  # per frame: the direction follows a person turning, never a swap
RELEARN_MS = 3000.0  # a torso reversed this long was learnt during a swap (or the person turned)
AGREE_DEG = 12.0  # the two sides move together while their mean difference stays below this
AGREE_RATE = 0.05
TURN_AFTER_MS = 1000.0


def _dist(p: list[float], q: list[float]) -> float:
    total = 0.0
    for k in range(0, len(p), 2):
        total += math.hypot(p[k] - q[k], p[k + 1] - q[k + 1])
    return total


class SideChooser:
    __slots__ = (
        "can_mirror", "swapped", "mirror", "disagree", "typical", "_prev", "_prev_t", "_away",
        "_swap_t", "_facing",
    )  # fmt: skip

    def __init__(self, can_mirror: bool) -> None:
        self.can_mirror = can_mirror  # a side view: the far limb may be swapped for the near
        self.swapped = False
        self.mirror = False
        self.disagree = 0.0
        self.typical = 0.0  # frame-to-frame movement of the points: noise and motion
        self._swap_t = 0.0
        self._prev: list[float] | None = None
        self._prev_t = 0.0
        self._away: float | None = None
        self._facing: list[float] | None = None  # unit direction of the torso's left - right

    def step(
        self,
        t_ms: float,
        angles: tuple[float, float],
        seen: tuple[bool, bool],
        points: list[float],
        facing: tuple[float, float] = (math.nan, math.nan),
    ) -> tuple[float, bool, bool]:
        """(angle, trackable, turn around) for one frame. ``angles``/``seen``: the prescribed
        side and its mirror as labelled; ``points``: both sides' driving points, prescribed side
        first, flattened (x, y pairs, isotropic image units); ``facing``: the torso's left minus
        right as labelled (x, z; isotropic image units), NaN when unknown."""
        half = len(points) // 2
        own, other = points[:half], points[half:]
        if all(math.isfinite(v) for v in points):
            prev = self._prev
            if prev is not None and t_ms - self._prev_t <= CONTINUITY_MS:
                # A swap is the labels jumping between consecutive frames: each side's points
                # land where the other side's were. Limbs that overlap cannot show one, and
                # cannot be hurt by one either.
                straight = _dist(own, prev[:half]) + _dist(other, prev[half:])
                crossed = _dist(own, prev[half:]) + _dist(other, prev[:half])
                least = min(straight, crossed)
                jump = max(SWAP_MIN, 3.0 * self.typical)
                if crossed < SWAP_RATIO * straight and straight - crossed > jump:
                    self.swapped = not self.swapped
                    self._swap_t = t_ms
                self.typical += 0.05 * (min(least, 0.5) - self.typical)
            self._prev, self._prev_t = own + other, t_ms
        crossed_now = self._torso_says(facing)
        if crossed_now is not None and crossed_now is not self.swapped:
            self.swapped = crossed_now
            self._swap_t = t_ms
        if crossed_now and t_ms - self._swap_t > RELEARN_MS:
            self.swapped = False  # labels are right by default: the direction was learnt crossed
            self._facing = None
        elif crossed_now is None and self.swapped and t_ms - self._swap_t > MAX_SWAP_MS:
            self.swapped = False  # MediaPipe's swaps are brief; the labels are right by default
        self._learn_facing(facing)
        if self.swapped:
            angles, seen = (angles[1], angles[0]), (seen[1], seen[0])
        a, b = angles
        if math.isfinite(a) and math.isfinite(b):
            self.disagree += AGREE_RATE * (min(abs(a - b), 60.0) - self.disagree)
        together = self.disagree < AGREE_DEG
        if self.mirror and (not together or (seen[0] and not seen[1])):
            self.mirror = False
        elif not self.mirror and self.can_mirror and together and seen[1] and not seen[0]:
            self.mirror = True
        turn = False
        if not self.mirror and not seen[0] and seen[1] and self.can_mirror:
            self._away = t_ms if self._away is None else self._away
            turn = t_ms - self._away >= TURN_AFTER_MS
        else:
            self._away = None
        k = 1 if self.mirror else 0
        return angles[k], seen[k], turn

    def _torso_says(self, facing: tuple[float, float]) -> bool | None:
        """True: the labels are crossed; False: they are right; None: the torso cannot tell."""
        ref = self._facing
        x, z = facing
        length = math.hypot(x, z)
        if ref is None or not length >= FACING_MIN:  # also NaN
            return None
        cos = (x * ref[0] + z * ref[1]) / length
        if cos <= -FACING_COS:
            return True
        if cos >= FACING_COS:
            return False
        return None

    def _learn_facing(self, facing: tuple[float, float]) -> None:
        x, z = facing
        length = math.hypot(x, z)
        if not length >= FACING_MIN:
            return
        sign = -1.0 if self.swapped else 1.0  # the direction the right labels would give
        ux, uz = sign * x / length, sign * z / length
        ref = self._facing
        if ref is None:
            self._facing = [ux, uz]
            return
        rx, rz = ref[0] + FACING_RATE * (ux - ref[0]), ref[1] + FACING_RATE * (uz - ref[1])
        norm = math.hypot(rx, rz)
        self._facing = [rx / norm, rz / norm] if norm > 1e-9 else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "swapped": self.swapped,
            "mirror": self.mirror,
            "disagree": self.disagree,
            "typical": self.typical,
            "swap_t": self._swap_t,
            "prev": self._prev,
            "prev_t": self._prev_t,
            "away": self._away,
            "facing": self._facing,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        flags = state["swapped"], state["mirror"]
        if not all(isinstance(f, bool) for f in flags):
            raise ValueError("snapshot fields 'swapped' and 'mirror' must be booleans")
        prev = None if state["prev"] is None else _state.reals(state, "prev", 16)
        self.swapped, self.mirror = flags
        self.disagree = _state.real(state, "disagree")
        self.typical = _state.real(state, "typical")
        self._swap_t = _state.real(state, "swap_t")
        self._prev, self._prev_t = prev, _state.real(state, "prev_t")
        self._away = _state.optional_real(state, "away")
        # A snapshot from before the torso's direction was kept: it is learnt again.
        facing = state.get("facing")
        self._facing = None if facing is None else _state.reals(state, "facing", 2)
