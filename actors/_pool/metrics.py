"""Metrics of the actor floor (exported by the server's /metrics through the default registry)."""

from prometheus_client import Counter, Gauge, Histogram

# method: `handle_batch` for a batch through Ray, `link` for one over the same-host socket.
RAY_CALLS = Counter("cadence_ray_calls_total", "Actor calls", ["actor", "method", "outcome"])
RAY_LATENCY = Histogram(
    "cadence_ray_call_seconds",
    "Ray actor call round trip",
    ["actor", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
BATCH_SIZE = Histogram(
    "cadence_ray_batch_size",
    "Requests carried by one actor call",
    ["actor"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
LINKS = Gauge(
    "cadence_actor_links", "Open same-host links to actors (actors/_pool/_local_link.py)", ["actor"]
)
PENDING = Gauge("cadence_ray_pending_requests", "Requests queued for an actor shard", ["actor"])
REJECTED = Counter(
    "cadence_ray_rejected_total", "Requests refused because a shard queue was full", ["actor"]
)
