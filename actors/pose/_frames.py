"""The frame path inside a pose worker: a bounded queue of camera frames and MediaPipe on one
inference thread.

The queue is per worker and bounded: when frames arrive faster than the model runs, the OLDEST
waiting frame is dropped (and counted): for live feedback the newest image is the useful one,
and a backlog would only add latency. Estimators (one MediaPipe graph per session, since video
mode tracks one stream) are kept in a small LRU and touched only on the inference thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict, deque
from concurrent.futures import ThreadPoolExecutor

from actors.pose.messages import Frame
from pipelines.frames import PoseEstimate, PoseEstimator


class FrameQueue:
    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._items: deque[Frame] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self.accepted = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, frame: Frame) -> None:
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(frame)
        self.accepted += 1
        self._ready.set()

    async def get(self) -> Frame:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class Inference:
    """MediaPipe off the event loop: every call runs on one dedicated thread."""

    def __init__(self, max_sessions: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pose-infer")
        self._estimators: OrderedDict[uuid.UUID, PoseEstimator] = OrderedDict()
        self._max = max_sessions

    async def estimate(self, session_id: uuid.UUID, jpeg: bytes) -> PoseEstimate:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._estimate, session_id, jpeg)

    async def forget(self, session_id: uuid.UUID) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._forget, session_id)

    def _estimate(self, session_id: uuid.UUID, jpeg: bytes) -> PoseEstimate:
        estimator = self._estimators.get(session_id)
        if estimator is None:
            while len(self._estimators) >= self._max:
                _, old = self._estimators.popitem(last=False)
                old.close()
            estimator = self._estimators[session_id] = PoseEstimator()
        self._estimators.move_to_end(session_id)
        return estimator.estimate_jpeg(jpeg)

    def _forget(self, session_id: uuid.UUID) -> None:
        estimator = self._estimators.pop(session_id, None)
        if estimator is not None:
            estimator.close()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
