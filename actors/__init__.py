"""Ray actors and the facades that call them: three families that never import each other
(`actors.calendar`, `actors.pose`, `actors.telemetry`) over one private pool package
(`actors._pool`: placement, batching links, sharding, metrics); and events out, the consumers of
the organizations' event streams and of due work (`actors.consumers`, the runner), with their
families (`actors.webhooks`, `actors.notifications`, `actors.automations`, `actors.dashboard`),
which never import each other either.

What the server may use of the pool is exported here; everything else of a family is reached
through that family's package.
"""

from actors._pool import (
    ActorPool,
    ShardOverloaded,
    ShardUnavailable,
    kill_all,
    lower_priority,
    metrics,
    runtime,
    tune_gc,
)

__all__ = [
    "ActorPool",
    "ShardOverloaded",
    "ShardUnavailable",
    "kill_all",
    "lower_priority",
    "metrics",
    "runtime",
    "tune_gc",
]
