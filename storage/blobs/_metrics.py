"""Metrics of the blob stores (the default registry, exported on /metrics)."""

from prometheus_client import Counter

# op: put, get; outcome: stored, exists (a put of bytes already there), ok, missing, error.
OPERATIONS = Counter(
    "cadence_blob_operations_total", "Blob store operations by outcome", ["store", "op", "outcome"]
)
BYTES = Counter(
    "cadence_blob_bytes_total", "Bytes written to and read from blob stores", ["store", "direction"]
)
