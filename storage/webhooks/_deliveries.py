"""Webhook deliveries and their attempts: the queue the sender works through and the log an
admin reads.

A delivery is one event for one endpoint, written once whatever the number of times the event
is read (`enqueue`: ON CONFLICT on (organization, endpoint, event id)). Its state machine:

    pending --2xx--> delivered
    pending --failure, retries left--> pending (next_attempt_at = now + backoff)
    pending --failure, none left--> failed
    pending --endpoint deleted--> cancelled
    delivered | failed | pending (not in flight) --replay--> pending (next_attempt_at = now)

The sender claims due rows of every organization on the platform path (`claim_due`): FOR UPDATE
SKIP LOCKED, and the claim moves `next_attempt_at` to the end of the lease it takes, so a sender
killed mid-send leaves a row that is due again once the lease ends, and is sent again with the
same event id (at least once). `attempts` is the claim's fence: a late answer of a sender whose
lease was taken over finds another attempt number and changes nothing (`finish`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from storage.crypto import CryptoError, KeyRing
from storage.errors import Conflict, InvalidTransition, NotFound
from storage.webhooks._endpoints import open_secret

ENTITY = "webhook delivery"
PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"
STATUSES = (PENDING, DELIVERED, FAILED, CANCELLED)

_COLUMNS = """id, organization_id, endpoint_id, event_id, event_type, payload, status, attempts,
    next_attempt_at, leased_until, last_status_code, last_error, last_attempt_at, delivered_at,
    created_at, updated_at"""


@dataclass(frozen=True, slots=True)
class Delivery:
    id: uuid.UUID
    organization_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str
    event_type: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    leased_until: datetime | None
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    status_code: int | None
    latency_ms: int
    error: str | None
    attempted_at: datetime


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery the sender holds a lease on, with what it needs to send it."""

    organization_id: uuid.UUID
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: str
    payload: dict[str, Any]
    attempt: int  # the number of the attempt being made (the fence of `finish`)
    url: str
    secrets: tuple[str, ...]  # in clear, current first; empty: none could be opened


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to, and where the delivery goes next."""

    status: str  # DELIVERED, PENDING (retry at `next_attempt_at`) or FAILED
    next_attempt_at: datetime | None
    status_code: int | None
    latency_ms: int
    error: str | None  # a short class name (`timeout`, `address_refused`, `http_500`, ...)


@dataclass(frozen=True, slots=True)
class Finished:
    recorded: bool  # False: the lease had been taken over, nothing was written
    endpoint_disabled: bool  # this attempt's failure disabled the endpoint


@dataclass(frozen=True, slots=True)
class FailurePolicy:
    """When a run of failures disables an endpoint: `threshold` failed attempts in a row over
    at least `min_age` (a burst against a receiver down for a minute does not disable it)."""

    threshold: int
    min_age: timedelta


_DELIVERY_FIELDS = tuple(f.name for f in fields(Delivery))


def _delivery(row: Any) -> Delivery:
    return Delivery(**{k: row[k] for k in _DELIVERY_FIELDS})


# --- written by the consumer, in the organization's transaction --------------------------------


@dataclass(frozen=True, slots=True)
class Queued:
    """One event to deliver to some endpoints."""

    endpoint_ids: Sequence[uuid.UUID]
    event_id: str
    event_type: str
    payload: dict[str, Any]


async def enqueue(
    conn: asyncpg.Connection, org_id: uuid.UUID, events: Sequence[Queued], *, now: datetime
) -> int:
    """One pending delivery per (endpoint, event), due now, in one statement; a pair already
    queued is left alone. Returns how many were new."""
    endpoints, ids, kinds, payloads = [], [], [], []
    for event in events:
        body = orjson.dumps(event.payload).decode()
        for endpoint_id in event.endpoint_ids:
            endpoints.append(endpoint_id)
            ids.append(event.event_id)
            kinds.append(event.event_type)
            payloads.append(body)
    if not endpoints:
        return 0
    created = await conn.fetch(
        """INSERT INTO webhook_deliveries
             (organization_id, endpoint_id, event_id, event_type, payload, next_attempt_at)
           SELECT $1, e, i, k, p::jsonb, $6
             FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS q(e, i, k, p)
           ON CONFLICT (organization_id, endpoint_id, event_id) DO NOTHING
           RETURNING id""",
        org_id,
        endpoints,
        ids,
        kinds,
        payloads,
        now,
    )
    return len(created)


# --- read and replayed by an admin, in the organization's transaction --------------------------


async def list_deliveries(
    conn: asyncpg.Connection,
    endpoint_id: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[Delivery]:
    """An endpoint's deliveries, newest first, after the (created_at, id) key `after`."""
    found = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM webhook_deliveries
            WHERE endpoint_id = $1 AND ($2::text IS NULL OR status = $2)
              AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
            ORDER BY created_at DESC, id DESC LIMIT $5""",
        endpoint_id,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [_delivery(r) for r in found]


async def get_delivery(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> Delivery:
    """A delivery of a live endpoint of the organization, or NotFound."""
    row = await conn.fetchrow(
        f"""SELECT {_COLUMNS} FROM webhook_deliveries d WHERE id = $1
              AND EXISTS (SELECT 1 FROM webhook_endpoints e
                          WHERE e.id = d.endpoint_id AND e.deleted_at IS NULL)""",
        delivery_id,
    )
    if row is None:
        raise NotFound(ENTITY)
    return _delivery(row)


async def attempts_of(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> list[Attempt]:
    found = await conn.fetch(
        """SELECT attempt, status_code, latency_ms, error, attempted_at FROM webhook_attempts
           WHERE delivery_id = $1 ORDER BY attempt""",
        delivery_id,
    )
    return [Attempt(**dict(r.items())) for r in found]


async def replay(conn: asyncpg.Connection, delivery_id: uuid.UUID, now: datetime) -> Delivery:
    """Send the delivery again soon, under the same event id. A delivery whose retries were
    used up gets one more attempt; a delivered one gets the whole schedule again. One in flight
    is left to its sender (its answer decides what happens next)."""
    current = await get_delivery(conn, delivery_id)
    if current.status == CANCELLED:
        raise InvalidTransition("delivery", current.status, "replay", [])
    disabled = await conn.fetchval(
        "SELECT disabled_at IS NOT NULL FROM webhook_endpoints WHERE id = $1",
        current.endpoint_id,
    )
    if disabled:
        raise Conflict(
            "the endpoint is disabled: enable it first",
            {"endpoint_id": current.endpoint_id},
            code="endpoint_disabled",
        )
    row = await conn.fetchrow(
        f"""UPDATE webhook_deliveries
            SET status = 'pending', next_attempt_at = $2, leased_until = NULL, updated_at = $2
            WHERE id = $1 AND (status <> 'pending' OR leased_until IS NULL OR leased_until <= $2)
            RETURNING {_COLUMNS}""",
        delivery_id,
        now,
    )
    return current if row is None else _delivery(row)


# --- the sender, across organizations (platform path) ------------------------------------------


async def claim_due(
    conn: asyncpg.Connection, ring: KeyRing, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    """Lease up to `limit` due deliveries of enabled endpoints, oldest due first."""
    found = await conn.fetch(
        """WITH due AS (
             SELECT d.organization_id, d.id FROM webhook_deliveries d
             JOIN webhook_endpoints e
               ON e.organization_id = d.organization_id AND e.id = d.endpoint_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1
               AND e.disabled_at IS NULL AND e.deleted_at IS NULL
             ORDER BY d.next_attempt_at
             LIMIT $3
             FOR UPDATE OF d SKIP LOCKED)
           UPDATE webhook_deliveries d
           SET attempts = d.attempts + 1, leased_until = $2, next_attempt_at = $2,
               updated_at = $1
           FROM due, webhook_endpoints e
           WHERE d.organization_id = due.organization_id AND d.id = due.id
             AND e.organization_id = d.organization_id AND e.id = d.endpoint_id
           RETURNING d.organization_id, d.id, d.endpoint_id, d.event_id, d.payload, d.attempts,
                     e.url, e.secret,
                     CASE WHEN e.previous_secret_until > $1 THEN e.previous_secret END
                       AS previous_secret""",
        now,
        lease_until,
        limit,
    )
    return [_claimed(ring, r) for r in found]


def _claimed(ring: KeyRing, row: Any) -> Claimed:
    org, endpoint = row["organization_id"], row["endpoint_id"]
    secrets: tuple[str, ...] = ()
    try:
        secrets = (open_secret(ring, org, endpoint, row["secret"]),)
        if row["previous_secret"] is not None:
            previous = open_secret(ring, org, endpoint, row["previous_secret"], "previous_secret")
            secrets = (*secrets, previous)
    except CryptoError:
        pass  # the sender records the attempt as failed: it cannot sign
    return Claimed(
        organization_id=org,
        delivery_id=row["id"],
        endpoint_id=endpoint,
        event_id=row["event_id"],
        payload=row["payload"],
        attempt=row["attempts"],
        url=row["url"],
        secrets=secrets,
    )


async def finish(
    conn: asyncpg.Connection,
    claimed: Claimed,
    outcome: Outcome,
    now: datetime,
    policy: FailurePolicy,
) -> Finished:
    """Record the attempt and move the delivery and its endpoint's failure run, if the lease is
    still this attempt's."""
    moved = await conn.fetchval(
        """UPDATE webhook_deliveries
           SET status = $4, next_attempt_at = $5, leased_until = NULL,
               last_status_code = $6, last_error = $7, last_attempt_at = $8, updated_at = $8,
               delivered_at = CASE WHEN $4 = 'delivered' THEN $8 ELSE delivered_at END
           WHERE organization_id = $1 AND id = $2 AND attempts = $3 AND status = 'pending'
           RETURNING id""",
        claimed.organization_id,
        claimed.delivery_id,
        claimed.attempt,
        outcome.status,
        outcome.next_attempt_at,
        outcome.status_code,
        outcome.error,
        now,
    )
    if moved is None:
        return Finished(recorded=False, endpoint_disabled=False)
    await conn.execute(
        """INSERT INTO webhook_attempts
             (organization_id, delivery_id, attempt, status_code, latency_ms, error, attempted_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (organization_id, delivery_id, attempt) DO NOTHING""",
        claimed.organization_id,
        claimed.delivery_id,
        claimed.attempt,
        outcome.status_code,
        outcome.latency_ms,
        outcome.error,
        now,
    )
    if outcome.status == DELIVERED:
        await conn.execute(
            """UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL
               WHERE organization_id = $1 AND id = $2 AND consecutive_failures > 0""",
            claimed.organization_id,
            claimed.endpoint_id,
        )
        return Finished(recorded=True, endpoint_disabled=False)
    # Locked first: two failures of one endpoint finishing at once count two, in turn.
    run = await conn.fetchrow(
        """SELECT consecutive_failures, failing_since, disabled_at FROM webhook_endpoints
           WHERE organization_id = $1 AND id = $2 FOR UPDATE""",
        claimed.organization_id,
        claimed.endpoint_id,
    )
    assert run is not None  # the delivery's foreign key holds it
    failures = run["consecutive_failures"] + 1
    since: datetime = run["failing_since"] or now
    disabled = run["disabled_at"] is None and failures >= policy.threshold
    disabled = disabled and since <= now - policy.min_age
    await conn.execute(
        """UPDATE webhook_endpoints
           SET consecutive_failures = $3, failing_since = $4,
               disabled_at = CASE WHEN $5 THEN $6 ELSE disabled_at END,
               disabled_reason = CASE WHEN $5 THEN 'failures' ELSE disabled_reason END,
               updated_at = CASE WHEN $5 THEN $6 ELSE updated_at END
           WHERE organization_id = $1 AND id = $2""",
        claimed.organization_id,
        claimed.endpoint_id,
        failures,
        since,
        disabled,
        now,
    )
    return Finished(recorded=True, endpoint_disabled=bool(disabled))


async def due_backlog(conn: asyncpg.Connection, now: datetime) -> int:
    """Deliveries due now at enabled endpoints (the sender's backlog)."""
    count = await conn.fetchval(
        """SELECT count(*) FROM webhook_deliveries d
           JOIN webhook_endpoints e
             ON e.organization_id = d.organization_id AND e.id = d.endpoint_id
           WHERE d.status = 'pending' AND d.next_attempt_at <= $1
             AND e.disabled_at IS NULL AND e.deleted_at IS NULL""",
        now,
    )
    return int(count or 0)
