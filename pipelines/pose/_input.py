"""Validation of a batch of pose frames, done in full before any tracker state is touched."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from ._angles import FloatArray
from ._landmarks import NUM_LANDMARKS

MAX_FRAMES_PER_BATCH = 1024


class PoseInputError(ValueError):
    """A batch the tracker refused; ``code`` is one of ``bad_type``, ``bad_shape``,
    ``batch_too_large``, ``bad_visibility`` (single frames' faults are not refused: see
    ``validate_frames``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


RESTART_BACK_MS = 1000.0  # a frame this far before the last one: the client's clock restarted
RESTART_GAP_MS = 33.0  # where a restarted clock's first frame lands after the last one


@dataclass(frozen=True, slots=True)
class Frames:
    """A validated batch: (N,) strictly increasing ``t_ms`` on the tracker's time base; (N, 33,
    4) ``image`` landmarks (x, y normalised, z, visibility in [0, 1]); optional (N, 33, 3)
    ``world`` landmarks. ``index``: each kept frame's position in the batch as sent (frames
    dropped one by one are missing from it); ``offset_ms``: what was added to the client's
    clock (it changes when the clock restarts); ``sent``: frames in the batch as sent."""

    t_ms: FloatArray
    image: FloatArray
    world: FloatArray | None
    index: list[int] = field(default_factory=list)
    offset_ms: float = 0.0
    sent: int = 0
    dropped: int = 0
    restarted: bool = False

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
    offset_ms: float = 0.0,
) -> Frames:
    """Check a batch; ``after_ms`` is the last frame time already taken (on the tracker's time
    base, which is the client's clock plus ``offset_ms``).

    A malformed batch (types, shapes, size, visibility outside [0, 1]) raises
    ``PoseInputError``: that is a client bug. Faults of single frames, which real cameras and
    networks produce, are handled frame by frame instead: a frame with a non-finite or repeated
    or out-of-order timestamp is dropped alone; a non-finite landmark is a landmark not seen
    (visibility 0, so the tracker reports ``tracking.lost`` if it needed it); a frame more than
    ``RESTART_BACK_MS`` before the last one means the client's clock restarted (a page reload),
    and starts a new time base just after the last frame instead of refusing the rest of the
    set."""
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
    visibility = image[..., 3]
    finite_vis = np.isfinite(visibility)
    if n and np.any(finite_vis & ((visibility < 0.0) | (visibility > 1.0))):
        raise PoseInputError("bad_visibility", "visibility must lie in [0, 1]")
    # Times as floats: a worker validates one to three frames a time, where numpy's dispatch
    # costs more than the check.
    times = t.tolist()
    keep: list[int] = []
    kept_t: list[float] = []
    last = after_ms
    offset = offset_ms
    restarted = False
    for i, raw in enumerate(times):
        if not math.isfinite(raw):
            continue
        at = raw + offset
        if last is not None and at <= last:
            if last - at <= RESTART_BACK_MS:
                continue  # a duplicate or a late frame: dropped alone
            offset += last + RESTART_GAP_MS - at
            at, restarted = last + RESTART_GAP_MS, True
        keep.append(i)
        kept_t.append(at)
        last = at
    if len(keep) != n:
        image, world = image[keep], None if world is None else world[keep]
    bad = ~np.isfinite(image).all(axis=2)
    if world is not None:
        bad |= ~np.isfinite(world).all(axis=2)
    if bad.any():  # not seen: invisible, at a harmless place (the geometry stays finite)
        image = image.copy()
        image[bad] = 0.0
        if world is not None:
            world = world.copy()
            world[bad] = 0.0
    return Frames(
        np.array(kept_t, dtype=np.float64),
        image,
        world,
        keep,
        offset,
        n,
        n - len(keep),
        restarted,
    )
