"""Who may enter a visit's room, and when: the one place REST, the WebSocket ops and the
channel policy ask.

A room belongs to an appointment whose service is virtual. Only two people may enter it: the
appointment's patient (a patient token whose organization AND patient id are the
appointment's) and its specialist (a specialist token whose organization AND specialist id are
the appointment's). Nobody else, staff of the clinic included: they may read the record.

The room's state is a function of the clock: `scheduled` until `opens_at` (start minus
`open_before_s`), `open` until `closes_at` (end plus `close_after_s`), then `closed`; an
appointment that was cancelled or missed is `cancelled` at any time, and a guest's request not
yet accepted stays `scheduled`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from server.visit_settings import VisitSettings
from storage.errors import Conflict, NotFound
from storage.scheduling import AppointmentStatus
from storage.types import Principal, Role
from storage.visits import VirtualAppointment, VisitParty

# A guest's booking request is not an appointment yet: its room waits until it is accepted.
UNDECIDED = frozenset({AppointmentStatus.REQUESTED.value})


class RoomState(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Window:
    opens_at: datetime
    closes_at: datetime

    @classmethod
    def of(cls, appointment: VirtualAppointment, settings: VisitSettings) -> Window:
        return cls(
            appointment.starts_at - timedelta(seconds=settings.open_before_s),
            appointment.ends_at + timedelta(seconds=settings.close_after_s),
        )

    def state(self, appointment: VirtualAppointment, now: datetime) -> RoomState:
        if not AppointmentStatus(appointment.status).holds_time:
            return RoomState.CANCELLED  # cancelled or missed
        if now < self.opens_at or appointment.status in UNDECIDED:
            return RoomState.SCHEDULED
        if now >= self.closes_at:
            return RoomState.CLOSED
        return RoomState.OPEN


def party_of(principal: Principal | None, appointment: VirtualAppointment) -> VisitParty | None:
    """The principal's place in the visit: the organization AND the subject must match."""
    if principal is None or principal.org_id != appointment.organization_id:
        return None
    if principal.role is Role.PATIENT and principal.patient_id == appointment.patient_id:
        return VisitParty.PATIENT
    if principal.role is Role.SPECIALIST and principal.specialist_id == appointment.specialist_id:
        return VisitParty.SPECIALIST
    return None


def subject_of(party: VisitParty, appointment: VirtualAppointment) -> uuid.UUID:
    return appointment.patient_id if party is VisitParty.PATIENT else appointment.specialist_id


def require_virtual(appointment: VirtualAppointment | None) -> VirtualAppointment:
    if appointment is None:
        raise NotFound("appointment")
    if not appointment.virtual:
        raise Conflict("this appointment is not a virtual visit", code="not_virtual")
    return appointment


def require_open(window: Window, state: RoomState) -> None:
    """409 unless the room is open, naming the window so a page can say when to come back."""
    details = {"state": state.value, "opens_at": window.opens_at, "closes_at": window.closes_at}
    if state is RoomState.SCHEDULED:
        raise Conflict("the visit's room is not open yet", details, code="visit_not_open")
    if state is not RoomState.OPEN:
        raise Conflict("the visit's room is closed", details, code="visit_closed")
