"""The room commands that REST and the WebSocket ops share: look a visit up for a principal,
enter (join), leave, relay a signal. Attendances are written in the caller's tenant
transaction; the events go out after the commit: `visit.joined` / `visit.left` to the room's
channel and to the staff channel, `visit.signal` (SDP offers and answers, ICE candidates) to the
room's channel only, which only the two parties may subscribe to."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from server.visit_settings import VisitSettings
from server.visits.access import (
    RoomState,
    Window,
    party_of,
    require_open,
    require_virtual,
)
from storage import visits
from storage.db import Database
from storage.errors import DomainError, NotFound
from storage.events import EventLog
from storage.types import Channel, ChannelName, Principal
from storage.visits import Attendance, VirtualAppointment, VisitParty

log = logging.getLogger("cadence.visits")
PUBLISH_TIMEOUT_S = 2.0

VISIT_EVENTS = Counter(
    "cadence_visit_events_total", "Virtual visit joins, leaves and relayed signals", ["kind"]
)


def room_channel(appointment_id: uuid.UUID) -> ChannelName:
    return Channel.visit(appointment_id).name


@dataclass(frozen=True, slots=True)
class Entered:
    appointment: VirtualAppointment
    party: VisitParty
    window: Window
    attendance: Attendance
    peer: uuid.UUID | None  # the other party's open attendance


class Rooms:
    def __init__(
        self,
        db: Callable[[], Database],
        events: Callable[[], EventLog],
        settings: VisitSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = db
        self._events = events
        self.settings = settings
        self._clock = clock

    def now(self) -> datetime:
        return self._clock()

    async def lookup(
        self, principal: Principal, appointment_id: uuid.UUID
    ) -> tuple[VirtualAppointment, VisitParty | None, Window, RoomState]:
        """The visit as the principal's organization sees it (404 for an unknown or foreign
        appointment, 409 `not_virtual`), with the principal's place in it (None: not a party)."""
        if principal.org_id is None:
            raise NotFound("appointment")
        async with self._db().tenant(principal.org_id) as conn:
            found = require_virtual(await visits.virtual_appointment(conn, appointment_id))
        window = Window.of(found, self.settings)
        return found, party_of(principal, found), window, window.state(found, self.now())

    async def record(self, principal: Principal, appointment_id: uuid.UUID,
                     window: Window) -> visits.VisitRecord:  # fmt: skip
        assert principal.org_id is not None
        async with self._db().tenant(principal.org_id) as conn:
            return await visits.record(conn, appointment_id, window.closes_at)

    async def may_join(self, principal: Principal | None, appointment_id: uuid.UUID) -> bool:
        """The channel policy of `visit:<id>`: a party, while the room is open."""
        if principal is None or principal.org_id is None:
            return False
        try:
            _, party, _, state = await self.lookup(principal, appointment_id)
        except DomainError:  # unknown, foreign, not virtual: no. A database outage propagates
            return False  # (the gateway answers `unavailable`, not a false `forbidden`).
        return party is not None and state is RoomState.OPEN

    async def enter(self, principal: Principal, appointment_id: uuid.UUID) -> Entered:
        found, party, window, state = await self.lookup(principal, appointment_id)
        if party is None:
            # Staff of the clinic and other patients alike: the room is only the two parties'.
            raise NotFound("appointment")
        require_open(window, state)
        assert principal.org_id is not None
        async with self._db().tenant(principal.org_id) as conn:
            attendance, peer = await visits.join(
                conn, principal.org_id, appointment_id, party, principal.user_id
            )
        VISIT_EVENTS.labels("join").inc()
        data = {"appointment_id": appointment_id, "role": party.value,
                "attendance_id": attendance.id}  # fmt: skip
        await self._publish(found, "visit.joined", data, staff=True)
        return Entered(found, party, window, attendance, peer)

    async def leave(
        self,
        principal: Principal,
        appointment: VirtualAppointment,
        party: VisitParty,
        attendance_id: uuid.UUID,
        reason: str = "left",
    ) -> bool:
        assert principal.org_id is not None
        async with self._db().tenant(principal.org_id) as conn:
            closed = await visits.leave(conn, attendance_id, reason)
        if closed:
            VISIT_EVENTS.labels("leave").inc()
            data = {"appointment_id": appointment.id, "role": party.value}
            await self._publish(appointment, "visit.left", data, staff=True)
        return closed

    async def signal(self, appointment: VirtualAppointment, party: VisitParty,
                     body: Mapping[str, Any]) -> None:  # fmt: skip
        VISIT_EVENTS.labels("signal").inc()
        await self._publish(appointment, "visit.signal", {"from": party.value, **body})

    async def _publish(self, appointment: VirtualAppointment, kind: str,
                       data: Mapping[str, Any], *, staff: bool = False) -> None:  # fmt: skip
        entries: list[tuple[ChannelName, str, Mapping[str, Any]]] = [
            (room_channel(appointment.id), kind, _wire(data))
        ]
        if staff:  # ids and roles only: the staff channel's owner view strips it anyway
            entries.append((Channel.org(appointment.organization_id).name, kind, _wire(data)))
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await self._events().publish_many(entries)


def _wire(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in data.items()}
