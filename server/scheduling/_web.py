"""Request plumbing shared by the scheduling handlers: the tenant unit of work (one transaction,
its audit actor, domain events published after commit), and the web kit (server/web/) under the
names the handlers use. Domain errors are not mapped here: they travel as typed errors to the
edge (server/errors.py for REST, the WebSocket `error` frame for ops)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from server.http import jsonable
from server.web.paging import Page as _Page
from server.web.paging import cursor_key, encode_cursor, page_of, page_response
from server.web.params import instant_value as parse_instant
from server.web.params import query_uuid
from server.work import Event, publish
from server.work import Work as KitWork
from server.work import unit_of_work as kit_unit_of_work
from storage.scheduling import Appointment
from storage.types import Channel, Principal, Role

__all__ = [
    "Page", "Work", "appointment_event_data", "appointment_events", "cursor_key",
    "encode_cursor", "is_staff_manager", "page_of", "page_response", "parse_instant", "publish",
    "query_uuid", "unit_of_work",
]  # fmt: skip

# A scheduling cursor is the raw sort key, checked by `cursor_key` where it is used.
Page = _Page[list[Any]]


class Work(KitWork):
    """The scheduling unit of work: the kit's, with the scheduling domain's event helpers."""

    def emit_org(self, event_type: str, data: Mapping[str, Any]) -> None:
        self.emit(Channel.org(self.org_id), event_type, data)

    def emit_appointment(self, event_type: str, appt: Appointment, **extra: Any) -> None:
        """appointment.* goes to the organization's and the patient's channels (PROTOCOL.md);
        the data carries ids and times only."""
        self.events.extend(appointment_events(event_type, appt, extra))


def appointment_events(event_type: str, appt: Appointment, extra: Mapping[str, Any]) -> list[Event]:
    """The appointment's event for its organization's and its patient's channels."""
    data = jsonable({**appointment_event_data(appt), **extra})
    return [
        (Channel.org(appt.organization_id).name, event_type, data),
        (Channel.patient(appt.patient_id).name, event_type, data),
    ]


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


def unit_of_work(request: web.Request) -> AbstractAsyncContextManager[Work]:
    """A transaction in the caller's organization; the events emitted inside are published
    only after the commit (server/work.py)."""
    return kit_unit_of_work(request, Work)


def is_staff_manager(who: Principal) -> bool:
    return who.role in (Role.ADMIN, Role.RECEPTIONIST)
