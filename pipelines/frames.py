"""Frame path inference: JPEG bytes -> MediaPipe Pose landmarks (33 x [x, y, z, visibility]).

The only module that imports MediaPipe, and only when an estimator is built: the landmark path
(the default, pose estimation on the client) never loads it. MediaPipe 0.10.21 carries exactly
one pose model in its wheel, the full model (``model_complexity=1``); the lite (0) and heavy (2)
models are downloaded on first use, which a server must never do, so they are refused.

Everything here is blocking CPU work (about 15-35 ms a frame on one core): callers run it off
their event loop, on one thread per estimator (a MediaPipe graph is not thread-safe).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

NUM_LANDMARKS = 33
MODEL_COMPLEXITY = 1
MAX_SIDE = 4096  # a larger image is refused before it is decoded (decompression bombs)
DECODE_SIDE = 640  # JPEG's DCT scaling decodes big frames straight at about this size
MAX_JPEG_BYTES = 512 * 1024  # PROTOCOL.md's binary frame limit

Rgb = NDArray[np.uint8]
Landmarks = NDArray[np.float64]


class FrameError(ValueError):
    """A frame that is not a usable image; ``code`` is ``bad_image`` or ``image_too_large``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class PoseEstimate:
    """``landmarks``: (33, 4) normalised to the image (x, y), z, visibility in [0, 1];
    ``world``: (33, 4) metres around the hips, visibility; ``None`` when nobody was found.
    ``aspect``: the image's width / height, which the tracker needs for 2-D angles."""

    landmarks: Landmarks | None
    world: Landmarks | None
    width: int
    height: int

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def found(self) -> bool:
        return self.landmarks is not None


def decode_jpeg(data: bytes | bytearray | memoryview, *, max_side: int = DECODE_SIDE) -> Rgb:
    """Decode a JPEG to RGB, scaled down (by the decoder, 1/2, 1/4 or 1/8) towards ``max_side``.
    Raises ``FrameError`` for anything that is not a JPEG of sane dimensions."""
    raw = bytes(data)
    if not raw:
        raise FrameError("bad_image", "the frame carries no image bytes")
    if len(raw) > MAX_JPEG_BYTES:
        raise FrameError("image_too_large", f"a frame image is at most {MAX_JPEG_BYTES} bytes")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.format != "JPEG":
                raise FrameError("bad_image", "the frame image must be a JPEG")
            width, height = img.size
            if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
                raise FrameError("image_too_large", f"image sides must be 1..{MAX_SIDE} pixels")
            scale = max(width, height) / max_side
            if scale > 1:
                img.draft("RGB", (int(width / scale), int(height / scale)))
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except FrameError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise FrameError("bad_image", "the frame image could not be decoded") from exc
    return np.ascontiguousarray(rgb)


class PoseEstimator:
    """One MediaPipe Pose graph. In video mode (the default) it tracks one person across
    consecutive frames of ONE stream; give each session its own estimator."""

    def __init__(
        self,
        model_complexity: int = MODEL_COMPLEXITY,
        *,
        static_image_mode: bool = False,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        if model_complexity != MODEL_COMPLEXITY:
            raise ValueError(
                "only model_complexity=1 is available offline (the model inside the mediapipe "
                "wheel); 0 and 2 would download a model at run time"
            )
        from mediapipe.python.solutions import pose as mp_pose  # lazy: heavy, frame path only

        self._pose: Any = mp_pose.Pose(
            static_image_mode=static_image_mode,
            model_complexity=MODEL_COMPLEXITY,
            smooth_landmarks=True,
            enable_segmentation=False,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )

    def estimate(self, rgb: Rgb) -> PoseEstimate:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise FrameError("bad_image", "expected an (H, W, 3) uint8 RGB image")
        height, width = rgb.shape[:2]
        result = self._pose.process(rgb)
        if result.pose_landmarks is None:
            return PoseEstimate(None, None, width, height)
        image = _array(result.pose_landmarks.landmark)
        world = None
        if result.pose_world_landmarks is not None:
            world = _array(result.pose_world_landmarks.landmark)
        return PoseEstimate(image, world, width, height)

    def estimate_jpeg(self, data: bytes | bytearray | memoryview) -> PoseEstimate:
        return self.estimate(decode_jpeg(data))

    def close(self) -> None:
        self._pose.close()


def _array(landmarks: Any) -> Landmarks:
    out = np.array([(p.x, p.y, p.z, p.visibility) for p in landmarks], dtype=np.float64)
    if out.shape != (NUM_LANDMARKS, 4):
        raise FrameError("bad_image", f"the model returned {len(out)} landmarks")
    out[:, 3] = np.clip(out[:, 3], 0.0, 1.0)
    return out


def absent() -> Landmarks:
    """The landmarks of a frame in which nobody was found: every point invisible, so the
    tracker's visibility gate reports the loss like any occlusion."""
    return np.zeros((NUM_LANDMARKS, 4), dtype=np.float64)
