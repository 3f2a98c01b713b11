"""Metrics of the stream consumers and pumps (exported by /metrics through the default registry).
`group` is a consumer group (`webhooks`, `dashboard`, ...); pumps use the same labels by name."""

from prometheus_client import Counter, Gauge, Histogram

HANDLED = Counter(
    "cadence_consumer_events_total",
    "Events handled by a consumer group (ok, retried, failed, malformed)",
    ["group", "outcome"],
)
HANDLE_SECONDS = Histogram(
    "cadence_consumer_handle_seconds",
    "Time a handler took for one event (or one read batch, for batch handlers)",
    ["group"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PENDING = Gauge(
    "cadence_consumer_pending", "Entries delivered to a group and not yet acknowledged", ["group"]
)
LAG = Gauge(
    "cadence_consumer_lag", "Entries of the streams not yet delivered to a group", ["group"]
)
CLAIMED = Counter(
    "cadence_consumer_claimed_total", "Pending entries taken over (XAUTOCLAIM)", ["group"]
)
DEAD = Counter(
    "cadence_consumer_dead_letters_total", "Events given up after max attempts", ["group"]
)
GAPS = Counter(
    "cadence_consumer_gap_events_total",
    "Events trimmed from a stream before the group read them",
    ["group"],
)
ERRORS = Counter(
    "cadence_consumer_errors_total", "Loop errors (Redis or Postgres refused)", ["group"]
)
PUMPED = Counter("cadence_pump_items_total", "Items a pump handled", ["pump"])
