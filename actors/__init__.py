"""Ray actors and the facades that call them: three families that never import each other
(`actors.calendar`, `actors.pose`, `actors.telemetry`) over one private pool package
(`actors._pool`: placement, batching links, sharding, metrics).

What the server may use of the pool is exported here; everything else of a family is reached
through that family's package.
"""

from actors._pool import (
    ActorPool,
    ShardOverloaded,
    ShardUnavailable,
    kill_all,
    metrics,
    runtime,
    tune_gc,
)

__all__ = [
    "ActorPool",
    "ShardOverloaded",
    "ShardUnavailable",
    "kill_all",
    "metrics",
    "runtime",
    "tune_gc",
]
