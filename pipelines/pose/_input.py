"""Validation of a batch of pose frames, done in full before any tracker state is touched."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._angles import FloatArray
from ._landmarks import NUM_LANDMARKS

MAX_FRAMES_PER_BATCH = 1024


class PoseInputError(ValueError):
    """A batch the tracker refused; ``code`` is one of ``bad_type``, ``bad_shape``,
    ``batch_too_large``, ``non_finite``, ``bad_visibility``, ``bad_timestamps``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Frames:
    """A validated batch: (N,) strictly increasing ``t_ms``; (N, 33, 4) ``image`` landmarks
    (x, y normalised, z, visibility in [0, 1]); optional (N, 33, 3) ``world`` landmarks."""

    t_ms: FloatArray
    image: FloatArray
    world: FloatArray | None

    def __len__(self) -> int:
        return len(self.t_ms)


def _floats(value: ArrayLike, name: str) -> FloatArray:
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PoseInputError("bad_type", f"{name} must be numeric") from exc


def validate_frames(
    t_ms: ArrayLike,
    landmarks: ArrayLike,
    world_landmarks: ArrayLike | None = None,
    *,
    after_ms: float | None = None,
) -> Frames:
    """Check a batch; ``after_ms`` is the last frame time already seen (timestamps must exceed
    it). Raises ``PoseInputError`` on the first problem found."""
    t = _floats(t_ms, "t_ms")
    image = _floats(landmarks, "landmarks")
    if t.ndim != 1:
        raise PoseInputError("bad_shape", f"t_ms must have shape (N,), got {t.shape}")
    n = len(t)
    if n > MAX_FRAMES_PER_BATCH:
        raise PoseInputError("batch_too_large", f"at most {MAX_FRAMES_PER_BATCH} frames a batch")
    if image.shape != (n, NUM_LANDMARKS, 4):
        raise PoseInputError(
            "bad_shape", f"landmarks must have shape ({n}, {NUM_LANDMARKS}, 4), got {image.shape}"
        )
    world = None
    if world_landmarks is not None:
        world = _floats(world_landmarks, "world_landmarks")
        if world.ndim != 3 or world.shape[:2] != (n, NUM_LANDMARKS) or world.shape[2] < 3:
            raise PoseInputError(
                "bad_shape",
                f"world_landmarks must have shape ({n}, {NUM_LANDMARKS}, 3|4), got {world.shape}",
            )
        world = world[..., :3]
    # Times as floats and the ufuncs' own reductions: a worker validates one to three frames
    # a time, where np.diff and ndarray.min/max cost more in dispatch than in the check.
    times = t.tolist()
    if not (all(math.isfinite(x) for x in times) and np.isfinite(image).all()):
        raise PoseInputError("non_finite", "timestamps and landmarks must be finite numbers")
    if world is not None and not np.isfinite(world).all():
        raise PoseInputError("non_finite", "world landmarks must be finite numbers")
    visibility = image[..., 3]
    if n and (
        np.minimum.reduce(visibility, axis=None) < 0.0
        or np.maximum.reduce(visibility, axis=None) > 1.0
    ):
        raise PoseInputError("bad_visibility", "visibility must lie in [0, 1]")
    if n > 1 and not all(a < b for a, b in zip(times, times[1:], strict=False)):
        raise PoseInputError("bad_timestamps", "timestamps must strictly increase within a batch")
    if n and after_ms is not None and times[0] <= after_ms:
        raise PoseInputError(
            "bad_timestamps", f"frame at {t[0]:g} ms is not after the last one ({after_ms:g} ms)"
        )
    return Frames(t, image, world)
