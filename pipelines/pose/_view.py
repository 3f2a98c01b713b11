"""Camera-view check: is the patient side-on or facing the camera, as the exercise needs?

Shoulder width over torso length in the image is about 0.7 facing the camera and near 0
side-on (the shoulders overlap). Between the two limits the view is oblique and no cue is given;
a wrong view must persist for ``persist_ms`` before it is reported. One shoulder visible and the
other not is itself the sign of a side view.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _state
from ._angles import BoolArray, FloatArray
from ._cues import Cue
from ._landmarks import Landmark
from ._vocabulary import CAMERA_VIEW_CUE, CameraView, Severity

SIDE_MAX_RATIO = 0.40  # above this the patient is not side-on (about 35 degrees off or more)
FRONT_MIN_RATIO = 0.50  # below this the patient is not facing the camera (about 45 degrees off)

_L_SH, _R_SH = Landmark.LEFT_SHOULDER, Landmark.RIGHT_SHOULDER
_L_HIP, _R_HIP = Landmark.LEFT_HIP, Landmark.RIGHT_HIP

_CUES = {
    CameraView.SIDE: Cue(CAMERA_VIEW_CUE, "Turn side-on to the camera", Severity.WARNING),
    CameraView.FRONT: Cue(CAMERA_VIEW_CUE, "Face the camera", Severity.WARNING),
}


def shoulder_torso_ratio(image: FloatArray, visible: BoolArray) -> FloatArray:
    """(N,) shoulder width / torso length from isotropic image points; NaN when unknown."""
    left = visible[:, _L_SH] & visible[:, _L_HIP]
    right = visible[:, _R_SH] & visible[:, _R_HIP]
    torso_l = _length(image[:, _L_SH] - image[:, _L_HIP])
    torso_r = _length(image[:, _R_SH] - image[:, _R_HIP])
    torso = np.where(left & right, (torso_l + torso_r) / 2, np.where(left, torso_l, torso_r))
    width = _length(image[:, _L_SH] - image[:, _R_SH])
    both_shoulders = visible[:, _L_SH] & visible[:, _R_SH]
    usable = torso > 1e-6
    # Divide by 1 where the torso is unusable (masked below) rather than under np.errstate,
    # whose set-and-restore costs more than the arithmetic on one-frame batches.
    ratio = np.where(both_shoulders, width / np.where(usable, torso, 1.0), 0.0)
    return np.where((left | right) & usable, ratio, np.nan)


def _length(d: FloatArray) -> FloatArray:
    """(N,) length of (N, 2) vectors."""
    return np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])


class ViewCheck:
    __slots__ = ("required", "persist_ms", "cue", "_wrong_since")

    def __init__(self, required: CameraView, persist_ms: float = 1000.0) -> None:
        self.required = required
        self.persist_ms = persist_ms
        self.cue = _CUES[required]
        self._wrong_since: float | None = None

    @property
    def wrong_since(self) -> float | None:
        """Since when the view has been wrong (unbroken), whether or not it persisted yet."""
        return self._wrong_since

    def wrong(self, ratio: float) -> bool:
        if self.required is CameraView.SIDE:
            return ratio > SIDE_MAX_RATIO
        return ratio < FRONT_MIN_RATIO

    def step(self, t_ms: float, ratio: float) -> bool:
        """True while a wrong view has persisted (NaN ratio: unknown, counts as not wrong)."""
        if math.isnan(ratio) or not self.wrong(ratio):
            self._wrong_since = None
            return False
        if self._wrong_since is None:
            self._wrong_since = t_ms
        return t_ms - self._wrong_since >= self.persist_ms

    def snapshot(self) -> dict[str, Any]:
        return {"wrong_since": self._wrong_since}

    def restore(self, state: Mapping[str, Any]) -> None:
        self._wrong_since = _state.optional_real(state, "wrong_since")
