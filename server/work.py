"""The unit of work of a request: one transaction in the caller's organization, its audit actor,
the keyring for sealed columns, and the domain events it emits, published only after the commit.

A domain may extend `Work` with its own emit helpers and pass its class to `unit_of_work`."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from aiohttp import web

from server import metrics
from server.errors import ApiError
from server.http import audit_actor, jsonable
from server.middleware import principal
from server.resources import DB_KEY, EVENTS_KEY, SETTINGS_KEY
from server.web.db_errors import db_errors
from storage import audit
from storage.audit import AuditActor
from storage.crypto import KeyRing
from storage.types import Channel, ChannelName, Principal

log = logging.getLogger("cadence.events")
PUBLISH_TIMEOUT_S = 2.0
Event = tuple[ChannelName, str, Any]


@dataclass
class Work:
    """One tenant transaction of one request, and the events it will publish once committed."""

    conn: asyncpg.Connection
    principal: Principal
    org_id: uuid.UUID
    actor: AuditActor
    keyring: KeyRing  # seals and opens the encrypted columns (storage/sealed.py)
    events: list[Event] = field(default_factory=list)

    @property
    def keys(self) -> KeyRing:
        return self.keyring

    async def audit(
        self,
        action: str,
        entity: str,
        entity_id: object,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
    ) -> None:
        """The one audit row of this mutation, in its transaction (records are copied to dicts:
        iterating an asyncpg Record yields values, not keys)."""
        await audit.record(
            self.conn,
            actor=self.actor,
            organization_id=self.org_id,
            action=action,
            entity=entity,
            entity_id=entity_id,
            before=None if before is None else jsonable(dict(before.items())),
            after=None if after is None else jsonable(dict(after.items())),
        )

    def emit(self, channel: Channel, event_type: str, data: Mapping[str, Any]) -> None:
        self.events.append((channel.name, event_type, jsonable(data)))


W = TypeVar("W", bound=Work)


def member(request: web.Request) -> tuple[Principal, uuid.UUID]:
    """The caller and their organization; 403 for a caller without one."""
    who = principal(request)
    if who.org_id is None:
        raise ApiError(403, "forbidden", "this endpoint needs an organization context")
    return who, who.org_id


@asynccontextmanager
async def unit_of_work(request: web.Request, kind: type[W]) -> AsyncIterator[W]:
    """A transaction in the caller's organization; the events emitted inside are published
    only after the commit."""
    who, org_id = member(request)
    work: W | None = None
    async with db_errors(), request.app[DB_KEY].tenant(org_id) as conn:
        keyring = request.app[SETTINGS_KEY].data_keys
        work = kind(conn, who, org_id, audit_actor(request, who), keyring)
        yield work
    assert work is not None  # the body ran (a failure to begin raised above)
    await publish(request, work.events)


async def publish(request: web.Request, events: Sequence[Event]) -> None:
    """Publish committed changes in order, in one Redis round trip. A failure is logged, not
    raised: the change is already committed, so the caller's answer must not become an error
    (a client that missed the push finds the change on its next fetch or resume)."""
    if not events:
        return
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await request.app[EVENTS_KEY].publish_many(events)
    except Exception as exc:
        log.warning("event publish failed", extra={"events": len(events), "error": repr(exc)})
        return
    for _, event_type, _ in events:
        metrics.EVENTS_PUBLISHED.labels(event_type.partition(".")[0]).inc()
