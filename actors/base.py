"""What every pooled actor has: its place in the pool, a readiness probe and its pid."""

from __future__ import annotations

import os


class PooledActor:
    def __init__(self, index: int, size: int) -> None:
        self.index = index
        self.size = size

    async def ready(self) -> bool:
        """Answers once the constructor (state rebuild) has finished."""
        return True

    async def pid(self) -> int:
        return os.getpid()
