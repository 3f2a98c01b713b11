"""Webhooks storage: an organization's endpoints (sealed signing secrets), the deliveries of its
events to them, and the log of their attempts. No HTTP here: the REST handlers, the consumer and
the sender (actors/webhooks/) call these."""

from storage.webhooks._deliveries import (
    CANCELLED,
    DELIVERED,
    FAILED,
    PENDING,
    STATUSES,
    Attempt,
    Claimed,
    Delivery,
    FailurePolicy,
    Finished,
    Outcome,
    Queued,
    attempts_of,
    claim_due,
    due_backlog,
    enqueue,
    finish,
    get_delivery,
    list_deliveries,
    replay,
)
from storage.webhooks._endpoints import (
    DISABLED_BY_ADMIN,
    DISABLED_BY_FAILURES,
    Endpoint,
    active_endpoints,
    create_endpoint,
    delete_endpoint,
    get_endpoint,
    list_endpoints,
    rotate_secret,
    update_endpoint,
)

__all__ = [
    "CANCELLED", "DELIVERED", "DISABLED_BY_ADMIN", "DISABLED_BY_FAILURES", "FAILED", "PENDING",
    "STATUSES", "Attempt", "Claimed", "Delivery", "Endpoint", "FailurePolicy", "Finished",
    "Outcome", "active_endpoints", "attempts_of", "claim_due", "create_endpoint",
    "Queued", "delete_endpoint", "due_backlog", "enqueue", "finish", "get_delivery", "get_endpoint",
    "list_deliveries", "list_endpoints", "replay", "rotate_secret", "update_endpoint",
]  # fmt: skip
