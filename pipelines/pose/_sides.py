"""Which limb a one-sided driving angle is read from: left/right swaps undone, the far limb
avoided where the exercise allows it, and the patient told to turn where it does not.

MediaPipe sometimes swaps the labels of the two sides for a few frames. Physically a limb moves
continuously, so a frame whose two sides each land clearly where the other side was a frame
before is a swap (or its end), beyond what the points' usual movement explains; the labels are
swapped back until the next such jump, and for at most ``MAX_SWAP_MS``.

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
        "_swap_t",
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

    def step(
        self,
        t_ms: float,
        angles: tuple[float, float],
        seen: tuple[bool, bool],
        points: list[float],
    ) -> tuple[float, bool, bool]:
        """(angle, trackable, turn around) for one frame. ``angles``/``seen``: the prescribed
        side and its mirror as labelled; ``points``: both sides' driving points, prescribed side
        first, flattened (x, y pairs, isotropic image units)."""
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
        if self.swapped and t_ms - self._swap_t > MAX_SWAP_MS:
            self.swapped = False  # MediaPipe's swaps are brief; the labels are right by default
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
