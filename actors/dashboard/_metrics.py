"""Metrics of the dashboard projection (exported by /metrics through the default registry)."""

from prometheus_client import Counter, Histogram

# trigger: `event` (an appointment event), `pump` (time), `snapshot` (a GET); outcome: `changed`
# (events published) or `unchanged`.
REFRESHES = Counter(
    "cadence_dashboard_refreshes_total",
    "Dashboard recomputations of an organization's day",
    ["trigger", "outcome"],
)
REFRESH_SECONDS = Histogram(
    "cadence_dashboard_refresh_seconds",
    "Time to recompute and publish one organization's dashboard",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
DELTAS = Counter(
    "cadence_dashboard_deltas_total", "Dashboard events published on org channels", ["type"]
)
PUMP_ORGANIZATIONS = Counter(
    "cadence_dashboard_pump_organizations_total",
    "Organizations the attention pump re-evaluated",
)
ATTENTION_TRUNCATED = Counter(
    "cadence_dashboard_attention_truncated_total",
    "Recomputations whose attention reads hit their bound (later items not in the queue)",
)
ZONE_CACHE = Counter(
    "cadence_dashboard_zone_cache_total",
    "Clinic time zone lookups of the projection (hit: from its cache, miss: from Postgres)",
    ["outcome"],
)
COALESCED = Counter(
    "cadence_dashboard_coalesced_total",
    "Event batches that waited out an organization's refresh gap (their events folded into one "
    "recomputation)",
)
