"""Webhooks: an organization's endpoints, one delivery per event and endpoint, and the log of
each delivery's attempts."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, Array, Integer, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.table import Table

from storage.orm import ENGINE


class WebhookEndpoints(Table, tablename="webhook_endpoints", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    url = Text()
    description = Text(default="")
    event_types = Array(Text())
    secret = Text()  # sealed (storage/crypto.py): `whsec_<base64>` in clear
    previous_secret = Text(null=True, default=None)  # sealed; still signs until ..._until
    previous_secret_until = Timestamptz(null=True, default=None)
    consecutive_failures = Integer(default=0)
    failing_since = Timestamptz(null=True, default=None)
    disabled_at = Timestamptz(null=True, default=None)
    disabled_reason = Text(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    deleted_at = Timestamptz(null=True, default=None)


class WebhookDeliveries(Table, tablename="webhook_deliveries", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    endpoint_id = UUID()
    event_id = Text()
    event_type = Text()
    payload = JSONB()
    status = Text(default="pending")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None)
    leased_until = Timestamptz(null=True, default=None)
    last_status_code = Integer(null=True, default=None)
    last_error = Text(null=True, default=None)
    last_attempt_at = Timestamptz(null=True, default=None)
    delivered_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class WebhookAttempts(Table, tablename="webhook_attempts", db=ENGINE):
    """Primary key (organization_id, id); Piccolo knows one column of it."""

    id = UUID(primary_key=True, default=UUID4())
    organization_id = UUID()
    delivery_id = UUID()
    attempt = Integer()
    status_code = Integer(null=True, default=None)
    latency_ms = Integer()
    error = Text(null=True, default=None)
    attempted_at = Timestamptz()
