"""The reminder pump: due reminders become outbox rows (storage/notifications/_reminders.py
holds the one statement that makes this exactly once, whoever races)."""

from __future__ import annotations

import time

from actors.consumers import Context
from actors.notifications import metrics
from storage import notifications as store

GAUGE_EVERY_S = 5.0


class ReminderPump:
    name = "notifications.reminders"

    def __init__(self, ctx: Context, *, batch: int = 200, idle_s: float = 5.0) -> None:
        self._ctx = ctx
        self._batch = batch
        self.idle_s = idle_s
        self._gauge_at = 0.0

    async def run_once(self) -> int:
        now = self._ctx.clock.now()
        async with self._ctx.db.platform() as conn:
            claimed = await store.claim_due_reminders(conn, now, self._batch)
        metrics.REMINDERS_SENT.inc(len(claimed.sent))
        metrics.REMINDERS_SKIPPED.inc(claimed.skipped)
        handled = len(claimed.sent) + claimed.skipped
        tick = time.monotonic()
        if handled < self._batch and tick - self._gauge_at >= GAUGE_EVERY_S:
            # Caught up: measure what is left (a count over the partial index), now and then.
            self._gauge_at = tick
            async with self._ctx.db.platform() as conn:
                metrics.REMINDERS_DUE.set(await store.reminders_due_count(conn, now))
        return handled
