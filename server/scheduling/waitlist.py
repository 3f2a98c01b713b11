"""The waitlist (Therapy CRM's, offered Cliniko's way: urgent first, then first come) and the
roster of a group session.

Every write is a command to the calendar shard owning the organization (actors/calendar): it
offers a freed slot to the first eligible entry as an exclusive hold in the batch that freed
it, and it books an accepted offer from that hold. Staff manage every entry; a patient joins
the list and manages their own entries only (anyone else's is a 404)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from actors.calendar import caller_of
from actors.calendar import messages as m
from actors.calendar import waitlist_entry_json as entry_json
from server.errors import validation_failed
from server.http import iso, json_response, path_id, read_json
from server.middleware import principal
from server.routing import ID, STAMP, Endpoint, listing, nullable, shape
from server.scheduling import schemas
from server.scheduling._web import unit_of_work
from server.scheduling.access import APPOINTMENT_READERS, STAFF
from server.scheduling.appointments import render_appointment
from server.scheduling.shards import instant, settled
from server.services import CALENDARS_KEY
from storage import scheduling as store
from storage.types import Role

TAG = "scheduling: waitlist"
STATUSES = ("waiting", "offered", "booked", "cancelled")

JOIN: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from", "to", "priority"],
    "properties": {
        "patient_id": {**schemas.UUID, "description": "required for staff; a patient: their own"},
        "calendar_id": schemas.UUID,
        "service_id": schemas.UUID,
        "specialist_id": schemas.UUID,
        "from": schemas.INSTANT,
        "to": schemas.INSTANT,
        "priority": {"enum": ["urgent", "normal"]},
        "note": {"type": "string", "maxLength": 2000},
    },
}
_AT = nullable(STAMP)
_OFFER = shape(
    {
        "hold_id": ID,
        "calendar_id": ID,
        "specialist_id": ID,
        "start": STAMP,
        "end": STAMP,
        "expires_at": STAMP,
    }  # fmt: skip
)
ENTRY_OUT = shape(
    {
        "id": ID,
        "patient_id": ID,
        "calendar_id": nullable(ID),
        "service_id": nullable(ID),
        "specialist_id": nullable(ID),
        "from": STAMP,
        "to": STAMP,
        "priority": {"enum": ["urgent", "normal"]},
        "status": {"enum": list(STATUSES)},
        "offer": nullable(_OFFER),
        "offers": {"type": "integer"},
        "appointment_id": nullable(ID),
        "note": nullable({"type": "string"}),
        "created_at": STAMP,
        "updated_at": STAMP,
    }  # fmt: skip
)
ACCEPTED_OUT = shape({"entry": ENTRY_OUT, "appointment": schemas.APPOINTMENT_RESPONSE})
_PARTICIPANT = shape(
    {
        "appointment_id": ID,
        "patient_id": ID,
        "name": {"type": "string"},
        "status": {"type": "string"},
        "attendance": {"enum": ["expected", "attended", "no_show", "cancelled"]},
    }  # fmt: skip
)
SESSION_OUT = shape(
    {
        "id": ID,
        "calendar_id": ID,
        "service_id": ID,
        "specialist_id": ID,
        "start": STAMP,
        "end": STAMP,
        "capacity": {"type": "integer"},
        "seats_taken": {"type": "integer"},
        "seats_left": {"type": "integer"},
        "participants": {"type": "array", "items": _PARTICIPANT},
    }  # fmt: skip
)


def render_entry(e: store.WaitlistEntry) -> dict[str, Any]:
    return {**entry_json(e), "note": e.note}


def _own(request: web.Request) -> uuid.UUID | None:
    """The patient a patient caller is (they see their own entries only); None for staff."""
    who = principal(request)
    return who.patient_id if who.role is Role.PATIENT else None


async def join(request: web.Request) -> web.Response:
    body = await read_json(request, JOIN)
    start, end = instant(body["from"], "from"), instant(body["to"], "to")
    if ("calendar_id" in body) == ("service_id" in body):
        raise validation_failed({"calendar_id": "give exactly one of calendar_id and service_id"})
    own = _own(request)
    if own is None and "patient_id" not in body:
        raise validation_failed({"patient_id": "is required"})
    patient_id = uuid.UUID(body["patient_id"]) if "patient_id" in body else own
    assert patient_id is not None

    def opt(name: str) -> uuid.UUID | None:
        return uuid.UUID(body[name]) if name in body else None

    async with unit_of_work(request) as work:
        command = m.JoinWaitlist(
            work.org_id, caller_of(work.principal), work.actor, patient_id, opt("calendar_id"),
            opt("service_id"), opt("specialist_id"), start, end, body["priority"],
            body.get("note"),
        )  # fmt: skip
    changed = await settled(request.app[CALENDARS_KEY].waitlist(command), m.WaitlistChanged)
    return json_response(render_entry(changed.entry), status=201)


async def list_entries(request: web.Request) -> web.Response:
    q = request.query
    status = q.get("status")
    if status is not None and status not in STATUSES:
        raise validation_failed({"status": f"must be one of {', '.join(STATUSES)}"})
    calendar_id = None
    if q.get("calendar_id"):
        try:
            calendar_id = uuid.UUID(q["calendar_id"])
        except ValueError:
            raise validation_failed({"calendar_id": "must be a UUID"}) from None
    async with unit_of_work(request):
        found = await store.list_waitlist(
            calendar_id=calendar_id, patient_id=_own(request),
            statuses=(status,) if status else ("waiting", "offered"),
        )  # fmt: skip
    return json_response({"data": [render_entry(e) for e in found]})


async def get_entry(request: web.Request) -> web.Response:
    entry_id = path_id(request, what="waitlist entry")
    async with unit_of_work(request):
        entry = await store.waitlist_entry(entry_id, patient_id=_own(request))
    return json_response(render_entry(entry))


async def _command(request: web.Request, action: str) -> m.WaitlistChanged:
    entry_id = path_id(request, what="waitlist entry")
    async with unit_of_work(request) as work:
        command = m.WaitlistCommand(
            work.org_id, caller_of(work.principal), work.actor, entry_id, action
        )
    return await settled(request.app[CALENDARS_KEY].waitlist(command), m.WaitlistChanged)


async def accept(request: web.Request) -> web.Response:
    changed = await _command(request, "accept")
    assert changed.appointment is not None
    return json_response(
        {
            "entry": render_entry(changed.entry),
            "appointment": render_appointment(changed.appointment),
        }
    )


async def decline(request: web.Request) -> web.Response:
    return json_response(render_entry((await _command(request, "decline")).entry))


async def cancel(request: web.Request) -> web.Response:
    return json_response(render_entry((await _command(request, "cancel")).entry))


def _attendance(status: str) -> str:
    if status in ("checked_in", "in_progress", "completed"):
        return "attended"
    if status in ("no_show", "cancelled"):
        return status
    return "expected"


async def group_session(request: web.Request) -> web.Response:
    """A class and its participants, each with their attendance (marked per participant with
    the appointment's own actions: check-in or complete = attended, no-show)."""
    session_id = path_id(request, what="group session")
    async with unit_of_work(request) as work:
        found = await store.group_session(work.conn, session_id)
    return json_response(
        {
            "id": str(found["id"]),
            "calendar_id": str(found["calendar_id"]),
            "service_id": str(found["service_id"]),
            "specialist_id": str(found["specialist_id"]),
            "start": iso(found["starts_at"]),
            "end": iso(found["ends_at"]),
            "capacity": found["capacity"],
            "seats_taken": found["seats_taken"],
            "seats_left": found["capacity"] - found["seats_taken"],
            "participants": [
                {
                    "appointment_id": str(p["appointment_id"]),
                    "patient_id": str(p["patient_id"]),
                    "name": f"{p['first_name']} {p['last_name']}".strip(),
                    "status": p["status"],
                    "attendance": _attendance(p["status"]),
                }
                for p in found["participants"]
            ],
        }  # fmt: skip
    )


_ENTRY_ERRORS = (404, 409, 410, 422, 503)
ENDPOINTS = [
    Endpoint(
        "POST", "/v1/waitlist", join, APPOINTMENT_READERS,
        "Join the waitlist for a calendar (or any calendar of a service) within [from, to): a "
        "freed slot that fits is offered at once as an exclusive hold (`waitlist.offered` on "
        "`patient:<id>`); staff name the patient, a patient joins as themselves; 422 for a "
        "window that has passed, 404 for unknown ids",
        TAG, request_schema=JOIN, response_schema=ENTRY_OUT, status=201,
        errors=(404, 422, 503),
    ),
    Endpoint(
        "GET", "/v1/waitlist", list_entries, APPOINTMENT_READERS,
        "The queue, urgent first then first come (waiting and offered entries unless `status` "
        "says otherwise); a patient sees their own entries",
        TAG, response_schema=listing(ENTRY_OUT),
        query={"calendar_id": "entries for this calendar (or offered a slot on it)",
               "status": "waiting | offered | booked | cancelled"},
        errors=(422,),
    ),
    Endpoint(
        "GET", "/v1/waitlist/{id}", get_entry, APPOINTMENT_READERS, "One entry", TAG,
        response_schema=ENTRY_OUT, errors=(404,),
    ),
    Endpoint(
        "POST", "/v1/waitlist/{id}/accept", accept, APPOINTMENT_READERS,
        "Book the entry's offer; 410 offer_expired once the offer ended (it passed to the next "
        "entry)",
        TAG, response_schema=ACCEPTED_OUT, errors=_ENTRY_ERRORS,
    ),
    Endpoint(
        "POST", "/v1/waitlist/{id}/decline", decline, APPOINTMENT_READERS,
        "Pass the offer to the next entry; the entry waits for another slot", TAG,
        response_schema=ENTRY_OUT, errors=_ENTRY_ERRORS,
    ),
    Endpoint(
        "DELETE", "/v1/waitlist/{id}", cancel, APPOINTMENT_READERS,
        "Leave the waitlist (an offer held passes to the next entry)", TAG,
        response_schema=ENTRY_OUT, errors=_ENTRY_ERRORS,
    ),
    Endpoint(
        "GET", "/v1/group-sessions/{id}", group_session, STAFF,
        "A class at one time: capacity, seats and each participant's attendance", TAG,
        response_schema=SESSION_OUT, errors=(404,),
    ),
]  # fmt: skip
