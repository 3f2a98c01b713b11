"""A progress bar on stderr for long runs: redrawn in place on a terminal, a line every 10%
otherwise (CI logs), silent when disabled. No dependency."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import TextIO

WIDTH = 30


class Progress:
    def __init__(self, label: str, total: float, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = max(total, 1e-9)
        self.done = 0.0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._drawn = 0.0
        self._decile = -1

    def advance(self, amount: float = 1) -> None:
        self.update(self.done + amount)

    def update(self, done: float) -> None:
        self.done = min(done, self.total)
        now = time.monotonic()
        fraction = self.done / self.total
        if self.tty:
            if now - self._drawn < 0.2 and fraction < 1:
                return
            self._drawn = now
            filled = int(WIDTH * fraction)
            bar = "#" * filled + "-" * (WIDTH - filled)
            self.stream.write(
                f"\r  {self.label} [{bar}] {fraction:4.0%} {now - self.started:5.0f}s"
            )
            self.stream.flush()
        elif int(fraction * 10) > self._decile:
            self._decile = int(fraction * 10)
            self.stream.write(f"  {self.label}: {fraction:.0%} ({now - self.started:.0f}s)\n")
            self.stream.flush()

    def close(self) -> None:
        self.update(self.total)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    async def tick(self, seconds: float, step: float = 0.5) -> None:
        """Advance with wall time for `seconds` (duration-bound phases); cancel to stop."""
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            self.update(elapsed)
            await asyncio.sleep(step)
        self.close()
