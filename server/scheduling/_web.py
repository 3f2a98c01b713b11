"""Request plumbing shared by the scheduling handlers: the tenant unit of work (one transaction,
its audit actor, domain events published after commit), and the web kit (server/web/) under the
names the handlers use. Domain errors are not mapped here: they travel as typed errors to the
edge (server/errors.py for REST, the WebSocket `error` frame for ops)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiohttp import web

from server import metrics
from server.errors import ApiError
from server.http import audit_actor, jsonable
from server.middleware import principal
from server.resources import DB_KEY, EVENTS_KEY, SETTINGS_KEY
from server.web.db_errors import db_errors
from server.web.paging import Page as _Page
from server.web.paging import cursor_key, encode_cursor, page_of, page_response
from server.web.params import instant_value as parse_instant
from server.web.params import query_uuid
from storage import audit
from storage.audit import AuditActor
from storage.crypto import KeyRing
from storage.scheduling import Appointment
from storage.types import Channel, ChannelName, Principal, Role

__all__ = [
    "Page", "Work", "appointment_event_data", "cursor_key", "encode_cursor", "is_staff_manager",
    "page_of", "page_response", "parse_instant", "publish", "query_uuid", "unit_of_work",
]  # fmt: skip

log = logging.getLogger("cadence.scheduling")
PUBLISH_TIMEOUT_S = 2.0
# A scheduling cursor is the raw sort key, checked by `cursor_key` where it is used.
Page = _Page[list[Any]]


@dataclass
class Work:
    """One tenant transaction of one request, and the events it will publish once committed."""

    conn: asyncpg.Connection
    principal: Principal
    org_id: uuid.UUID
    actor: AuditActor
    events: list[tuple[ChannelName, str, dict[str, Any]]] = field(default_factory=list)
    # Seals and opens the encrypted columns (storage/sealed.py) this transaction touches.
    keyring: KeyRing | None = None

    @property
    def keys(self) -> KeyRing:
        assert self.keyring is not None, "unit_of_work sets the keyring"
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

    def emit_org(self, event_type: str, data: Mapping[str, Any]) -> None:
        self.emit(Channel.org(self.org_id), event_type, data)

    def emit_appointment(self, event_type: str, appt: Appointment, **extra: Any) -> None:
        """appointment.* goes to the organization's and the patient's channels (PROTOCOL.md);
        the data carries ids and times only."""
        data = {**appointment_event_data(appt), **extra}
        self.emit(Channel.org(self.org_id), event_type, data)
        self.emit(Channel.patient(appt.patient_id), event_type, data)


def appointment_event_data(appt: Appointment) -> dict[str, Any]:
    return {
        "appointment_id": appt.id,
        "calendar_id": appt.calendar_id,
        "specialist_id": appt.specialist_id,
        "patient_id": appt.patient_id,
        "status": appt.status.value,
        "start": appt.starts_at,
        "end": appt.ends_at,
    }


@asynccontextmanager
async def unit_of_work(request: web.Request) -> AsyncIterator[Work]:
    """A transaction in the caller's organization; the events emitted inside are published
    only after the commit."""
    who = principal(request)
    if who.org_id is None:
        raise ApiError(403, "forbidden", "this endpoint needs an organization context")
    work: Work | None = None
    async with db_errors(), request.app[DB_KEY].tenant(who.org_id) as conn:
        keyring = request.app[SETTINGS_KEY].data_keys
        work = Work(conn, who, who.org_id, audit_actor(request, who), keyring=keyring)
        yield work
    assert work is not None  # the body ran (a failure to begin raised above)
    await publish(request, work.events)


async def publish(request: web.Request, events: Sequence[tuple[ChannelName, str, Any]]) -> None:
    """Publish committed changes in order. A failure is logged, not raised: the change is
    already committed, so the caller's answer must not become an error."""
    stream = request.app[EVENTS_KEY]
    for channel, event_type, data in events:
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                await stream.publish(channel, event_type, data)
            metrics.EVENTS_PUBLISHED.labels(event_type.partition(".")[0]).inc()
        except Exception as exc:
            log.warning("event publish failed", extra={"event": event_type, "error": repr(exc)})


def is_staff_manager(who: Principal) -> bool:
    return who.role in (Role.ADMIN, Role.RECEPTIONIST)
