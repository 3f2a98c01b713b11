"""Prometheus metrics. Every queue, actor and cache of Cadence reports here."""

from __future__ import annotations

from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

import actors  # noqa: F401  (registers the actor pool's metrics)
import storage.cache  # noqa: F401  (registers the caches' collector)

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


_HTTP_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}
# Any token is a valid HTTP method: others are counted together, so a client cannot grow the
# label set (route is the matched pattern or "unmatched", status a 3-digit code).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def http_observed(method: str, route: str, status: int, seconds: float) -> None:
    """Count and time one request. The labelled children are looked up once per (method, route,
    status): `labels()` takes a lock and builds its key on every call."""
    method = method if method in _METHODS else "OTHER"
    children = _HTTP_CHILDREN.get((method, route, status))
    if children is None:
        children = (
            HTTP_REQUESTS.labels(method, route, str(status)),
            HTTP_LATENCY.labels(method, route),
        )
        _HTTP_CHILDREN[(method, route, status)] = children
    children[0].inc()
    children[1].observe(seconds)


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
