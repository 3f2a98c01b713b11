"""The frame path's inference on a real photograph, and its bounded queue."""

from __future__ import annotations

import asyncio
import io
import uuid

import pytest
from PIL import Image
from skimage import data

from actors.pose._frames import FrameQueue
from actors.pose.messages import Frame
from pipelines.frames import FrameError, PoseEstimator, decode_jpeg
from storage.types import PatientSubject

SHOULDERS, ELBOWS = (11, 12), (13, 14)


def jpeg(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


def test_the_astronaut_photograph_gives_a_plausible_pose() -> None:
    """scikit-image ships the photograph; MediaPipe's full model ships in its wheel."""
    estimator = PoseEstimator(static_image_mode=True)
    try:
        estimate = estimator.estimate_jpeg(jpeg(Image.fromarray(data.astronaut())))
    finally:
        estimator.close()
    assert estimate.found and estimate.landmarks is not None
    lm = estimate.landmarks
    assert lm.shape == (33, 4) and estimate.aspect == 1.0
    assert all(lm[i, 3] > 0.5 for i in SHOULDERS)  # both shoulders visible
    assert max(lm[i, 1] for i in SHOULDERS) < min(lm[i, 1] for i in ELBOWS)  # above the elbows
    assert lm[0, 1] < min(lm[i, 1] for i in SHOULDERS)  # nose above the shoulders


@pytest.mark.parametrize("complexity", [0, 2])
def test_models_that_would_download_are_refused(complexity: int) -> None:
    with pytest.raises(ValueError, match="download"):
        PoseEstimator(complexity)


def test_images_that_are_not_sane_jpegs_are_refused() -> None:
    with pytest.raises(FrameError):
        decode_jpeg(b"")
    with pytest.raises(FrameError):
        decode_jpeg(b"\xff\xd8not a jpeg at all")
    with pytest.raises(FrameError):
        decode_jpeg(jpeg(Image.new("RGB", (8, 8)), "PNG"))
    with pytest.raises(FrameError) as err:
        decode_jpeg(jpeg(Image.new("RGB", (5000, 16))))
    assert err.value.code == "image_too_large"
    big = decode_jpeg(jpeg(Image.new("RGB", (1920, 1080))))
    assert max(big.shape[:2]) <= 1920 // 2  # decoded at a reduced scale


def test_a_full_frame_queue_drops_the_oldest_and_counts() -> None:
    async def scenario() -> None:
        queue = FrameQueue(3)
        sid = uuid.uuid4()
        owner = PatientSubject(uuid.uuid4(), uuid.uuid4())
        for t in range(5):
            queue.put(Frame(sid, owner, float(t), b""))
        assert len(queue) == 3 and queue.dropped == 2 and queue.accepted == 5
        assert [(await queue.get()).t_ms for _ in range(3)] == [2.0, 3.0, 4.0]
        waiter = asyncio.ensure_future(queue.get())
        await asyncio.sleep(0)
        assert not waiter.done()
        queue.put(Frame(sid, owner, 9.0, b""))
        assert (await waiter).t_ms == 9.0

    asyncio.run(scenario())
