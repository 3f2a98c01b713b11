"""Working out the camera's aspect ratio from the body, when the client did not send it.

MediaPipe normalises x to the image width and y to its height. A limb's length in isotropic
units, sqrt((a dx)^2 + dy^2) with a = width / height, stays the same as the limb turns; with a
wrong ``a`` it swings with the limb's direction. So the ratio is the candidate that keeps the
limbs' lengths steadiest over the frames seen, decided once the limbs have turned enough to tell
the candidates apart, and snapped to the common camera shapes when it is close to one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _state
from ._angles import FloatArray
from ._landmarks import Landmark as L

SEGMENTS = np.array(
    [
        (L.LEFT_SHOULDER, L.LEFT_ELBOW), (L.LEFT_ELBOW, L.LEFT_WRIST),
        (L.RIGHT_SHOULDER, L.RIGHT_ELBOW), (L.RIGHT_ELBOW, L.RIGHT_WRIST),
        (L.LEFT_HIP, L.LEFT_KNEE), (L.LEFT_KNEE, L.LEFT_ANKLE),
        (L.RIGHT_HIP, L.RIGHT_KNEE), (L.RIGHT_KNEE, L.RIGHT_ANKLE),
        (L.LEFT_SHOULDER, L.LEFT_HIP), (L.RIGHT_SHOULDER, L.RIGHT_HIP),
    ],
    dtype=np.intp,
)  # fmt: skip
CANDIDATES = np.exp(np.linspace(np.log(0.4), np.log(2.5), 41))
COMMON = (16 / 9, 4 / 3, 1.0, 3 / 4, 9 / 16)
KEEP = 200  # frames of segment samples
MIN_FRAMES = 45
EVERY = 15  # frames between decisions
CLEAR = 0.2  # some limb's spread under the worst candidate is 1 / CLEAR times its best


class AspectGuess:
    __slots__ = ("announced", "settled", "value", "_dx2", "_dy2", "_since")

    def __init__(self) -> None:
        self.announced = False
        self.settled = False
        self.value: float | None = None
        self._dx2: deque[list[float]] = deque(maxlen=KEEP)
        self._dy2: deque[list[float]] = deque(maxlen=KEEP)
        self._since = 0

    def add(self, image: FloatArray) -> float | None:
        """Take a batch's (N, 33, 4) landmarks; returns the ratio once it is settled."""
        if self.settled:
            return self.value
        visible = image[..., 3] >= 0.5
        d = image[:, SEGMENTS[:, 0], :2] - image[:, SEGMENTS[:, 1], :2]
        ok = (visible[:, SEGMENTS[:, 0]] & visible[:, SEGMENTS[:, 1]]).all(axis=1)
        for row in np.flatnonzero(ok):
            self._dx2.append((d[row, :, 0] ** 2).tolist())
            self._dy2.append((d[row, :, 1] ** 2).tolist())
            self._since += 1
        if len(self._dx2) < MIN_FRAMES or self._since < EVERY:
            return None
        self._since = 0
        dx2, dy2 = np.array(self._dx2), np.array(self._dy2)
        lengths = np.sqrt(CANDIDATES[:, None, None] ** 2 * dx2[None] + dy2[None])
        # (candidates, segments): each limb's relative spread of length under each candidate.
        spread = lengths.var(axis=1) / np.maximum(lengths.mean(axis=1) ** 2, 1e-12)
        best = int(np.argmin(spread.sum(axis=1)))
        # A limb that has not turned is as steady under any candidate: decide only once one has.
        contrast = spread.max(axis=0) / np.maximum(spread.min(axis=0), 1e-12)
        if contrast.max() * CLEAR < 1.0 or best in (0, len(CANDIDATES) - 1):
            return None
        value = float(CANDIDATES[best])
        near = min(COMMON, key=lambda c: abs(np.log(c / value)))
        self.value = near if abs(np.log(near / value)) < 0.06 else value
        self.settled = True
        return self.value

    def snapshot(self) -> dict[str, Any]:
        return {
            "announced": self.announced,
            "settled": self.settled,
            "value": self.value,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        # The samples are not kept in a snapshot: an unsettled guess starts collecting again.
        flags = state["announced"], state["settled"]
        if not all(isinstance(f, bool) for f in flags):
            raise ValueError("snapshot fields 'announced' and 'settled' must be booleans")
        value = _state.optional_real(state, "value")
        if flags[1] and value is None:
            raise ValueError("a settled aspect guess needs its value")
        self.announced, self.settled = flags
        self.value = value
