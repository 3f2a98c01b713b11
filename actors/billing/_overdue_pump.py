"""The overdue sweep as a pump of the consumers' runner: a bounded batch per call, safe beside
the same pump in another process (the claim skips rows another sweeper holds)."""

from __future__ import annotations

import time

from actors.billing import metrics
from actors.consumers import Context
from storage import billing as store

GAUGE_EVERY_S = 30.0


class OverduePump:
    name = "billing.overdue"

    def __init__(self, ctx: Context, *, batch: int = 500, idle_s: float = 60.0) -> None:
        self._ctx = ctx
        self._batch = batch
        # Due dates are days: a minute's delay is invisible, and the claim is one index scan.
        self.idle_s = idle_s
        self._gauge_at = 0.0

    async def run_once(self) -> int:
        # Each invoice is due by its clinic's own date at this instant, as mark-overdue decides.
        now = self._ctx.clock.now()
        async with self._ctx.db.platform() as conn:
            marked = await store.sweep_overdue(conn, now, self._batch)
        metrics.OVERDUE_MARKED.inc(marked)
        tick = time.monotonic()
        if marked < self._batch and tick - self._gauge_at >= GAUGE_EVERY_S:
            self._gauge_at = tick
            async with self._ctx.db.platform() as conn:
                metrics.OVERDUE_PENDING.set(await store.overdue_pending(conn, now))
        return marked
