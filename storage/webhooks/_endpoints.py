"""An organization's webhook endpoints: where its events go, which of them, and with which
signing secret. Run inside `Database.tenant(org)`.

The secret is sealed at rest (storage/crypto.py, bound to its row, column and organization) and
leaves this module in clear only to the caller that created or rotated it (shown once) and to
the sender (`storage.webhooks._deliveries.claim_due`). After a rotation the previous secret keeps
signing beside the new one for a grace period, so receivers can switch without a gap (Standard
Webhooks: several space-separated signatures)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from storage.crypto import FieldRef, KeyRing
from storage.errors import NotFound
from storage.orm import first, rows
from storage.tables._webhooks import WebhookDeliveries, WebhookEndpoints

ENTITY = "webhook endpoint"
DISABLED_BY_FAILURES = "failures"
DISABLED_BY_ADMIN = "admin"

_E = WebhookEndpoints
_COLUMNS = (
    _E.id, _E.organization_id, _E.url, _E.description, _E.event_types, _E.consecutive_failures,
    _E.failing_since, _E.disabled_at, _E.disabled_reason, _E.created_by, _E.created_at,
    _E.updated_at,
)  # fmt: skip
_SQL_COLUMNS = ", ".join(c._meta.db_column_name for c in _COLUMNS)  # the same list, for raw SQL


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: uuid.UUID
    organization_id: uuid.UUID
    url: str
    description: str
    event_types: tuple[str, ...]
    consecutive_failures: int
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def audited(self) -> dict[str, Any]:
        """The fields an audit row compares (the secret never appears, not even masked)."""
        out = asdict(self)
        out["event_types"] = list(self.event_types)
        out["enabled"] = self.enabled
        return out


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row["id"],
        organization_id=row["organization_id"],
        url=row["url"],
        description=row["description"],
        event_types=tuple(row["event_types"]),
        consecutive_failures=row["consecutive_failures"],
        failing_since=row["failing_since"],
        disabled_at=row["disabled_at"],
        disabled_reason=row["disabled_reason"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def seal_secret(ring: KeyRing, org_id: uuid.UUID, endpoint_id: uuid.UUID, secret: str) -> str:
    return ring.seal(secret, FieldRef("webhook_endpoints", "secret", endpoint_id, org_id))


def open_secret(
    ring: KeyRing, org_id: uuid.UUID, endpoint_id: uuid.UUID, sealed: str, column: str = "secret"
) -> str:
    """A sealed secret in clear. A previous secret is opened with `column="previous_secret"`."""
    return ring.open(sealed, FieldRef("webhook_endpoints", column, endpoint_id, org_id))


async def create_endpoint(
    ring: KeyRing,
    org_id: uuid.UUID,
    *,
    url: str,
    description: str,
    event_types: Sequence[str],
    secret: str,
    created_by: uuid.UUID | None,
) -> Endpoint:
    endpoint_id = uuid.uuid4()
    row = _E(
        id=endpoint_id,
        organization_id=org_id,
        url=url,
        description=description,
        event_types=list(event_types),
        secret=seal_secret(ring, org_id, endpoint_id, secret),
        created_by=created_by,
    )
    await _E.insert(row)
    return await get_endpoint(endpoint_id)


async def get_endpoint(endpoint_id: uuid.UUID) -> Endpoint:
    """A live endpoint of the transaction's organization, or NotFound."""
    row = await first(
        _E.select(*_COLUMNS).where((_E.id == endpoint_id) & _E.deleted_at.is_null()).first()
    )
    if row is None:
        raise NotFound(ENTITY)
    return _endpoint(row)


async def list_endpoints(
    conn: asyncpg.Connection, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[Endpoint]:
    """Live endpoints, newest first, `limit` of them after the (created_at, id) key `after`."""
    found = await conn.fetch(
        f"""SELECT {_SQL_COLUMNS} FROM webhook_endpoints
            WHERE deleted_at IS NULL
              AND ($1::timestamptz IS NULL OR (created_at, id) < ($1, $2::uuid))
            ORDER BY created_at DESC, id DESC LIMIT $3""",
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [_endpoint(r) for r in found]


async def active_endpoints() -> list[Endpoint]:
    """The endpoints events go to now: live and enabled (the webhooks consumer's question)."""
    found = await rows(
        _E.select(*_COLUMNS).where(_E.deleted_at.is_null() & _E.disabled_at.is_null())
    )
    return [_endpoint(r) for r in found]


async def update_endpoint(
    endpoint_id: uuid.UUID,
    now: datetime,
    *,
    url: str | None = None,
    description: str | None = None,
    event_types: Sequence[str] | None = None,
    enabled: bool | None = None,
) -> tuple[Endpoint, Endpoint]:
    """Change what is given; (before, after). Enabling clears the failure run (an admin says the
    receiver is back); disabling marks it disabled by an admin. Pending deliveries wait while an
    endpoint is disabled and go out once it is enabled again."""
    before = await get_endpoint(endpoint_id)
    values: dict[Any, Any] = {_E.updated_at: now}
    if url is not None:
        values[_E.url] = url
    if description is not None:
        values[_E.description] = description
    if event_types is not None:
        values[_E.event_types] = list(event_types)
    if enabled is True and not before.enabled:
        values.update(
            {
                _E.disabled_at: None,
                _E.disabled_reason: None,
                _E.consecutive_failures: 0,
                _E.failing_since: None,
            }
        )
    elif enabled is False and before.enabled:
        values.update({_E.disabled_at: now, _E.disabled_reason: DISABLED_BY_ADMIN})
    await _E.update(values).where((_E.id == endpoint_id) & _E.deleted_at.is_null())
    return before, await get_endpoint(endpoint_id)


async def rotate_secret(
    ring: KeyRing, endpoint_id: uuid.UUID, secret: str, now: datetime, grace: timedelta
) -> Endpoint:
    """A new signing secret; the current one keeps signing beside it for `grace`."""
    row = await first(
        _E.select(_E.organization_id, _E.secret)
        .where((_E.id == endpoint_id) & _E.deleted_at.is_null())
        .first()
    )
    if row is None:
        raise NotFound(ENTITY)
    org_id: uuid.UUID = row["organization_id"]
    current = open_secret(ring, org_id, endpoint_id, row["secret"])
    await _E.update(
        {
            _E.secret: seal_secret(ring, org_id, endpoint_id, secret),
            _E.previous_secret: ring.seal(
                current, FieldRef("webhook_endpoints", "previous_secret", endpoint_id, org_id)
            ),
            _E.previous_secret_until: now + grace,
            _E.updated_at: now,
        }
    ).where(_E.id == endpoint_id)
    return await get_endpoint(endpoint_id)


async def delete_endpoint(endpoint_id: uuid.UUID, now: datetime) -> Endpoint:
    """Soft delete (its delivery log stays readable to the platform); its pending deliveries
    are cancelled."""
    endpoint = await get_endpoint(endpoint_id)
    await _E.update({_E.deleted_at: now, _E.updated_at: now}).where(_E.id == endpoint_id)
    _D = WebhookDeliveries
    cancelled: dict[Any, Any] = {_D.status: "cancelled", _D.next_attempt_at: None}
    pending = (_D.endpoint_id == endpoint_id) & (_D.status == "pending")
    await _D.update({**cancelled, _D.leased_until: None, _D.updated_at: now}).where(pending)
    return endpoint
