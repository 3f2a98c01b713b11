"""Request plumbing shared by the scheduling handlers: the tenant unit of work (one transaction,
its audit actor, domain events published after commit), error mapping, paging, time formats."""

from __future__ import annotations

import asyncio
import base64
import logging
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from server import metrics
from server.errors import ApiError, not_found, validation_failed
from server.http import audit_actor, jsonable
from server.middleware import principal
from server.resources import DB_KEY, EVENTS_KEY, SETTINGS_KEY
from storage import audit
from storage.audit import AuditActor
from storage.crypto import CryptoError, KeyRing
from storage.scheduling import (
    Appointment,
    InvalidReference,
    InvalidTransition,
    NotFound,
    SlotUnavailable,
)
from storage.types import Channel, ChannelName, Principal, Role

log = logging.getLogger("cadence.scheduling")
PUBLISH_TIMEOUT_S = 2.0
DEFAULT_LIMIT, MAX_LIMIT = 50, 200


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
    """A transaction in the caller's organization. Domain errors become their HTTP answers;
    the events emitted inside are published only after the commit."""
    who = principal(request)
    if who.org_id is None:
        raise ApiError(403, "forbidden", "this endpoint needs an organization context")
    # Late import: server.live builds on the scheduling package.
    from server.live.notify import after_commit

    work: Work | None = None
    async with _mapped_errors(), request.app[DB_KEY].tenant(who.org_id) as conn:
        keyring = request.app[SETTINGS_KEY].data_keys
        work = Work(conn, who, who.org_id, audit_actor(request, who), keyring=keyring)
        yield work
    assert work is not None  # the body ran (a failure to begin raised above)
    await publish(request, work.events)
    # Rule edits reach the shards before the answer (appointment writes are the shards' own).
    await after_commit(request, work.org_id, work.events)


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


@asynccontextmanager
async def _mapped_errors() -> AsyncIterator[None]:
    try:
        yield
    except NotFound as exc:
        raise not_found(exc.entity) from None
    except InvalidReference as exc:
        raise validation_failed({exc.field: exc.message}) from None
    except SlotUnavailable as exc:
        raise slot_unavailable(str(exc), exc.conflicts) from None
    except InvalidTransition as exc:
        raise ApiError(
            409,
            "invalid_transition",
            str(exc),
            {"status": exc.current, "action": exc.action, "allowed": exc.allowed},
        ) from None
    except asyncpg.ExclusionViolationError:
        raise slot_unavailable("the specialist is not free at this time", []) from None
    except asyncpg.DeadlockDetectedError:
        # Two multi-row writes (series) racing for the same times: Postgres aborted this one.
        # Nothing was written; the caller may retry and will get an exact answer.
        raise ApiError(
            409,
            "conflict",
            "a concurrent booking overlapped this one; retry",
            headers={"Retry-After": "1"},
        ) from None
    except asyncpg.UniqueViolationError:
        raise ApiError(409, "conflict", "a resource with these values already exists") from None
    except (asyncpg.ForeignKeyViolationError, asyncpg.CheckViolationError):
        raise validation_failed({"$": "references or values the database refuses"}) from None
    except CryptoError as exc:
        # A sealed value was changed or moved in the database: refuse to show it, say so once.
        log.error("sealed value refused", extra={"error": str(exc)})
        raise ApiError(500, "data_integrity", "a stored value failed its integrity check") from None


def slot_unavailable(message: str, conflicts: Sequence[Mapping[str, Any]]) -> ApiError:
    return ApiError(409, "slot_unavailable", message, {"conflicts": jsonable(list(conflicts))})


# --- representation ------------------------------------------------------------------------


def parse_instant(text: str, name: str) -> datetime:
    """An RFC 3339 instant with an offset; 422 otherwise."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise validation_failed({name: "must be an RFC 3339 date-time"}) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise validation_failed({name: "must carry a UTC offset (e.g. Z or +02:00)"})
    return value


def query_uuid(request: web.Request, name: str) -> uuid.UUID | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise validation_failed({name: "must be a UUID"}) from None


# --- paging (PROTOCOL.md: ?limit=&cursor= -> {"data", "next_cursor"}) -------------------------


@dataclass(frozen=True, slots=True)
class Page:
    limit: int
    after: list[Any] | None  # the sort key of the last row of the previous page


def page_of(request: web.Request) -> Page:
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise validation_failed({"limit": f"must be an integer 1..{MAX_LIMIT}"})
    cursor = request.query.get("cursor")
    after = None
    if cursor:
        try:
            after = orjson.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * 4))
        except (ValueError, orjson.JSONDecodeError):
            after = None
        if not isinstance(after, list):
            raise validation_failed({"cursor": "is not a cursor this endpoint issued"})
    return Page(int(raw_limit), after)


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(jsonable(list(key)))).decode().rstrip("=")


def cursor_key(page: Page, n: int) -> list[Any]:
    """The previous page's last sort key as `n` values, or 422 for a cursor of another shape."""
    if page.after is None or len(page.after) != n:
        raise validation_failed({"cursor": "is not a cursor this endpoint issued"})
    return page.after


def page_response(rows: Sequence[Any], page: Page, render: Any, key: Any) -> dict[str, Any]:
    """`rows` were fetched with LIMIT page.limit + 1; the extra row says a next page exists."""
    more = len(rows) > page.limit
    shown = rows[: page.limit]
    return {
        "data": [render(r) for r in shown],
        "next_cursor": encode_cursor(key(shown[-1])) if more and shown else None,
    }


def is_staff_manager(who: Principal) -> bool:
    return who.role in (Role.ADMIN, Role.RECEPTIONIST)
