"""A video for Chromium's fake camera (`--use-file-for-fake-video-capture=<file>.y4m`) that shows
a person: scikit-image's astronaut photo (the picture the `pose` scenario's frame path uses),
still, as Y4M (4:2:0). Made on the fly; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def person_video(path: Path, *, frames: int = 30, fps: int = 30) -> Path:
    """Write `frames` frames of the photo (a 640 x 480 letterbox) to `path`; Chromium loops it."""
    from skimage import data as samples

    rgb = samples.astronaut()  # 512 x 512
    canvas = np.zeros((480, 640, 3), dtype=np.uint8)
    photo = cv2.resize(rgb, (480, 480), interpolation=cv2.INTER_AREA)
    canvas[:, 80:560] = photo
    yuv = cv2.cvtColor(canvas, cv2.COLOR_RGB2YUV_I420).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W640 H480 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(yuv)
    return path
