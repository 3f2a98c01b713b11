"""The live front desk (ClinicFlow dashboard): a projection of each organization's day
(appointment cards and a needs-attention queue) pushed as deltas on `org:<id>`.

For the consumer runner: `projection(ctx)` is the `dashboard` group's handler, `pump(ctx)` the
time-driven re-evaluation. The server's snapshot (GET /v1/dashboard) calls
`DashboardProjection.snapshot`.
"""

from actors.consumers import Context
from actors.dashboard._projection import Dashboard, DashboardProjection
from actors.dashboard._pump import AttentionPump
from actors.dashboard._state import ATTENTION, CARDS, UPDATED, Rules, apply

__all__ = [
    "ATTENTION",
    "CARDS",
    "UPDATED",
    "AttentionPump",
    "Dashboard",
    "DashboardProjection",
    "Rules",
    "apply",
    "projection",
    "pump",
]


def projection(ctx: Context) -> DashboardProjection:
    return DashboardProjection(ctx)


def pump(ctx: Context) -> AttentionPump:
    return AttentionPump(ctx, DashboardProjection(ctx))
