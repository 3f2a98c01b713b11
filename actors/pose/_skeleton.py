"""The live skeleton a session's watchers see (`pose.skeleton`, an ephemeral event): the 2-D
points of one frame, thinned in time and rounded, never stored.

At most one a session every `EVERY_MS` (10 a second), whatever the frame rate: the clinician's
view redraws the patient's outline, it does not analyse it (the worker does). Three decimals of
the image size are under a pixel at 640 px; depth is left out, and a point the model is not
sure of (visibility under `MIN_VISIBILITY`) is `null` rather than a guess."""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
from numpy.typing import NDArray

EVENT = "pose.skeleton"
EVERY_MS = 100.0
MIN_VISIBILITY = 0.5


def due(last_ms: float, now_ms: float) -> bool:
    return now_ms - last_ms >= EVERY_MS


def skeleton(
    session_id: uuid.UUID, t_ms: float, landmarks: NDArray[np.float64], aspect: float | None
) -> dict[str, Any]:
    """The event's data for one frame: `landmarks` is (33, 4) x, y, z, visibility."""
    xy = np.round(landmarks[:, :2], 3).tolist()
    seen = landmarks[:, 3] >= MIN_VISIBILITY  # NaN compares False: not seen
    points: list[list[float] | None] = [
        p if ok and all(map(math.isfinite, p)) else None for p, ok in zip(xy, seen, strict=True)
    ]
    out_aspect = aspect if aspect is not None and math.isfinite(aspect) and aspect > 0 else 1.0
    return {"session_id": str(session_id), "t": float(t_ms), "aspect": round(out_aspect, 4),
            "points": points}  # fmt: skip
