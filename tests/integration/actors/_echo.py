"""A minimal pooled actor for testing the pool mechanics themselves (not a stand-in for ours)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, replace
from typing import Any

import ray

from actors._pool._base import PooledActor


@dataclass(frozen=True)
class Slow:
    """A request that takes `seconds` inside the actor; `again()` marks the pool's resends."""

    seconds: float
    resent: bool = False

    def again(self) -> Slow:
        return replace(self, resent=True)


@ray.remote
class Echo(PooledActor):
    def __init__(self, index: int, size: int, tag: str) -> None:
        super().__init__(index, size)
        self.tag = tag
        self.batches: list[int] = []

    async def handle_batch(self, requests: list[Any]) -> list[Any]:
        self.batches.append(len(requests))
        out = []
        for r in requests:
            if r == "boom":
                raise ValueError("boom")
            if isinstance(r, Slow):
                await asyncio.sleep(r.seconds)
            out.append((self.tag, self.index, r, os.getpid()))
        return out

    async def batch_sizes(self) -> list[int]:
        return self.batches
