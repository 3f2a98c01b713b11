"""The actor pool: named, sharded Ray actors, batched calls over a same-host link or Ray, and the
base class every family's actor derives from. Private to `actors`."""

from actors._pool import metrics, runtime
from actors._pool._base import LazyPool, PooledActor, RebuildingActor, lower_priority, tune_gc
from actors._pool._pool import ActorPool, ShardOverloaded, ShardUnavailable, kill_all
from actors._pool.compact import compact
from actors._pool.sharding import shard_of

__all__ = [
    "ActorPool",
    "LazyPool",
    "PooledActor",
    "RebuildingActor",
    "ShardOverloaded",
    "ShardUnavailable",
    "compact",
    "kill_all",
    "lower_priority",
    "metrics",
    "runtime",
    "shard_of",
    "tune_gc",
]
