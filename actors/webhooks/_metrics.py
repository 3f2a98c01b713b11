"""Metrics of the webhooks consumer and sender (the default registry, exported on /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

ENQUEUED = Counter("cadence_webhook_enqueued_total", "Webhook deliveries queued by the consumer")
# outcome: delivered, retry (a failed attempt with retries left), failed (none left),
# superseded (a late answer after the lease was taken over: not recorded).
DELIVERIES = Counter(
    "cadence_webhook_attempts_total", "Webhook delivery attempts by outcome", ["outcome"]
)
ATTEMPT_LATENCY = Histogram(
    "cadence_webhook_attempt_seconds",
    "Webhook attempt round trip (DNS, connect, request, response headers)",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
BACKLOG = Gauge("cadence_webhook_due_backlog", "Webhook deliveries due now at enabled endpoints")
DISABLED = Counter(
    "cadence_webhook_endpoints_disabled_total", "Endpoints disabled after a run of failures"
)
