"""Metrics of the document renderer (the default registry, exported on /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

# outcome: rendered, failed (the worker raised or died), timeout.
RENDERS = Counter(
    "cadence_document_renders_total", "PDF renders by kind and outcome", ["kind", "outcome"]
)
RENDER_SECONDS = Histogram(
    "cadence_document_render_seconds",
    "PDF render time in a worker process (HTML build and WeasyPrint), by kind",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
IN_FLIGHT = Gauge("cadence_document_renders_in_flight", "Renders running or waiting for a worker")
REFUSED = Counter(
    "cadence_document_renders_refused_total", "Renders refused because the renderer was full"
)
