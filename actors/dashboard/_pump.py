"""Time changes the dashboard without any event: a booked patient becomes late, an unconfirmed
appointment's start passes, the clinic's day ends. The pump re-evaluates the organizations with
appointments near now, a bounded page per call.

Two pumps (two processes) may evaluate the same organization: the refresh is idempotent and its
commit is guarded (storage.dashboard.ProjectionStore), so the second finds nothing to publish;
no claim table is needed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from actors.consumers import Context
from actors.dashboard import _metrics as metrics
from actors.dashboard._projection import DashboardProjection
from storage import dashboard as store

# Local days reach up to 14 hours either side of UTC; appointments this close to now may sit in
# some clinic's today (or just-ended yesterday, whose cards must go back to zero).
NEAR = timedelta(hours=38)


class AttentionPump:
    name = "dashboard.attention"
    idle_s = 30.0

    def __init__(self, ctx: Context, projection: DashboardProjection, *, page: int = 200) -> None:
        self._ctx = ctx
        self._projection = projection
        self._page = page
        self._after: uuid.UUID | None = None  # where this pass stands (organization ids)

    async def run_once(self) -> int:
        """Re-evaluate the next page of organizations. Returns the page's size while the pass
        has more pages (the runner goes on at once), and 0 when the pass is complete (the next
        one starts after `idle_s`)."""
        now = self._ctx.clock.now()
        async with self._ctx.db.platform() as conn:
            orgs = await store.organizations_with_appointments(
                conn, now - NEAR, now + NEAR, self._after, self._page
            )
        for org_id in orgs:
            await self._projection.refresh(org_id, trigger="pump")
        metrics.PUMP_ORGANIZATIONS.inc(len(orgs))
        if len(orgs) < self._page:
            self._after = None
            return 0
        self._after = orgs[-1]
        return len(orgs)
