"""Prometheus metrics. Every queue, actor and cache of Cadence reports here."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

import storage.cache  # noqa: F401  (registers the caches' collector)
from actors.metrics import RAY_CALLS, RAY_LATENCY  # noqa: F401  (exported here too)

HTTP_REQUESTS = Counter(
    "cadence_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "cadence_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
WS_OPEN = Gauge("cadence_ws_connections", "Open WebSocket connections")
WS_FRAMES = Counter("cadence_ws_frames_total", "WebSocket frames", ["direction", "op"])
WS_CLOSES = Counter("cadence_ws_closes_total", "WebSocket closes by code", ["code"])
QUEUE_DEPTH = Gauge("cadence_queue_depth", "Items waiting in a bounded queue", ["queue"])
QUEUE_DROPPED = Counter("cadence_queue_dropped_total", "Items dropped by a full queue", ["queue"])
EVENTS_PUBLISHED = Counter("cadence_events_published_total", "Events published", ["kind"])


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
