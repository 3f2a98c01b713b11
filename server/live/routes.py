"""REST of live calendars: holds, booking through a hold, and the public booking flow.

Every handler calls the calendar command facade (actors/calendar/_commands.py), the same one the
WebSocket `hold` / `release` ops use; the owning CalendarShard decides.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from actors.calendar import CalendarCommands, anonymous, caller_of
from actors.calendar import messages as m
from server.errors import ApiError, not_found, validation_failed
from server.http import audit_actor, json_response, read_json
from server.live import shared
from server.live.quota import ANONYMOUS_HOLDS_KEY
from server.logs import request_id_var
from server.middleware import principal
from server.resources import DB_KEY
from server.routing import Endpoint, RateLimit, public, roles
from server.scheduling import requests
from server.scheduling._web import appointment_events, publish
from server.scheduling.appointments import render_appointment
from server.scheduling.schemas import (
    APPOINTMENT_RESPONSE,
    INSTANT,
    SLOTS_RESPONSE,
    UUID,
    VISIT_REASON,
)
from server.services import CALENDARS_KEY
from server.web.idempotency import idempotency_key
from storage.audit import AuditActor
from storage.scheduling import (
    BOOKED_EVENT,
    REQUESTED_EVENT,
    Appointment,
    AppointmentStatus,
    booking_request,
)
from storage.telerehab import patient_exists
from storage.types import Role

TAG = "scheduling: live calendars"
HOLDERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST, Role.PATIENT)
BOOKERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.PATIENT)
# Booking pages poll nothing (they subscribe), so a browser needs few calls; a clinic behind
# one NAT address shares these.
PUBLIC_SLOTS = public(RateLimit(limit=300, window_s=10))
PUBLIC_HOLDS = public(RateLimit(limit=60, window_s=10))
PUBLIC_BOOKINGS = public(RateLimit(limit=20, window_s=60))
HOLD_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["calendar_id", "start"],
    "additionalProperties": False,
    "properties": {
        "calendar_id": UUID,
        "start": INSTANT,
        "specialist_id": {"anyOf": [UUID, {"type": "null"}]},
        "patient_id": {**UUID, "description": "staff only: hold on behalf of this patient"},
    },
}
PUBLIC_HOLD_BODY: dict[str, Any] = {
    **HOLD_BODY,
    "properties": {
        "calendar_id": UUID,
        "start": INSTANT,
        "specialist_id": {"anyOf": [UUID, {"type": "null"}]},
        "hold_token": {**shared.HOLD_TOKEN,
                       "description": "this booker's token from an earlier hold: the new hold "
                                      "replaces that one and keeps the token"},
    },
}  # fmt: skip
BOOK_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["hold_id"],
    "additionalProperties": False,
    "properties": {"hold_id": UUID, "patient_id": UUID, "visit_reason": VISIT_REASON},
}
CONTACT: dict[str, Any] = {
    "type": "object",
    "required": ["name", "email", "phone"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "email": {"type": "string", "format": "email", "minLength": 3, "maxLength": 254},
        "phone": {"type": "string", "pattern": "^[+0-9 ()./-]{3,32}$"},
    },
}
PUBLIC_BOOK_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["hold_id", "hold_token", "contact"],
    "additionalProperties": False,
    "properties": {
        "hold_id": UUID,
        "hold_token": shared.HOLD_TOKEN,
        "contact": CONTACT,
        "visit_reason": VISIT_REASON,
        "consent": requests.CONSENT,
    },
}
RELEASE_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"hold_token": shared.HOLD_TOKEN},
}


def _commands(request: web.Request) -> CalendarCommands:
    return request.app[CALENDARS_KEY]


def _path_uuid(request: web.Request, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["id"])
    except ValueError:
        raise not_found(what) from None


def _public_actor(request: web.Request) -> AuditActor:
    return AuditActor(user_id=None, role="public", request_id=request_id_var.get() or None)


async def _announce(request: web.Request, appt: Appointment) -> None:
    """appointment.booked on the organization's and the patient's channels (PROTOCOL.md)."""
    await publish(request, appointment_events(BOOKED_EVENT, appt, {}))


# --- slots --------------------------------------------------------------------------------


async def public_slots(request: web.Request) -> web.Response:
    calendar_id = _path_uuid(request, "calendar")
    query = shared.SlotQuery.of(request.query)
    call = _commands(request).slots(anonymous(""), calendar_id, query.start, query.end)
    view = await shared.settled(call, m.SlotsView)
    return json_response(shared.render_slots(view, query))


# --- holds --------------------------------------------------------------------------------


async def create_hold(request: web.Request) -> web.Response:
    body = await read_json(request, HOLD_BODY)
    who = principal(request)
    caller = caller_of(who)
    if body.get("patient_id"):
        if who.role is Role.PATIENT:
            raise validation_failed({"patient_id": "patients hold for themselves"})
        patient_id = shared.optional_uuid(body["patient_id"], "patient_id")
        assert patient_id is not None
        await _own_patient(request, who.org_id, patient_id)
        caller = m.Caller(f"patient:{patient_id}", who.org_id, who.role.value)
    call = _commands(request).hold(
        caller, uuid.UUID(body["calendar_id"]), shared.instant(body["start"], "start"),
        shared.optional_uuid(body.get("specialist_id"), "specialist_id"),
        idempotency_key(request),
    )  # fmt: skip
    granted = await shared.settled(call, m.HoldGranted)
    return json_response(shared.render_hold(granted.hold, granted.replaced), status=201)


async def _own_patient(
    request: web.Request, org_id: uuid.UUID | None, patient_id: uuid.UUID
) -> None:
    """Staff hold on behalf of a patient of their own organization only (422 otherwise): a
    hold names its holder by patient id, which proves nothing across organizations."""
    if org_id is not None:
        async with request.app[DB_KEY].tenant(org_id):
            if await patient_exists(patient_id):
                return
    raise validation_failed({"patient_id": "no such patient in this organization"})


async def delete_hold(request: web.Request) -> web.Response:
    hold_id = _path_uuid(request, "hold")
    call = _commands(request).release(caller_of(principal(request)), hold_id)
    await shared.settled(call, m.Released)
    return web.Response(status=204)


async def create_public_hold(request: web.Request) -> web.Response:
    body = await read_json(request, PUBLIC_HOLD_BODY)
    calendar_id = uuid.UUID(body["calendar_id"])
    # The same per-address and per-calendar budget as anonymous WebSocket holds (quota.py).
    await request.app[ANONYMOUS_HOLDS_KEY].admit(request.remote, calendar_id)
    token = body.get("hold_token") or shared.new_hold_token()
    call = _commands(request).hold(
        anonymous(token), calendar_id, shared.instant(body["start"], "start"),
        shared.optional_uuid(body.get("specialist_id"), "specialist_id"),
        idempotency_key(request),
    )  # fmt: skip
    granted = await shared.settled(call, m.HoldGranted)
    rendered = shared.render_hold(granted.hold, granted.replaced)
    return json_response({**rendered, "hold_token": token}, status=201)


async def delete_public_hold(request: web.Request) -> web.Response:
    hold_id = _path_uuid(request, "hold")
    token = request.headers.get("X-Hold-Token")
    if token is None and request.can_read_body:
        token = (await read_json(request, RELEASE_BODY)).get("hold_token")
    if not token:
        # A missing token is a malformed request, not a failed login: 422, like any missing field.
        raise ApiError(
            422,
            "validation_failed",
            "the hold token is required (X-Hold-Token)",
            {"fields": {"hold_token": "is required"}},
        )
    await shared.settled(_commands(request).release(anonymous(token), hold_id), m.Released)
    return web.Response(status=204)


# --- booking ------------------------------------------------------------------------------


async def book(request: web.Request) -> web.Response:
    """Confirm a live hold into an appointment; 410 hold_expired when it is no longer valid."""
    body = await read_json(request, BOOK_BODY)
    who = principal(request)
    patient_id = shared.optional_uuid(body.get("patient_id"), "patient_id")
    if who.role is Role.PATIENT:
        if patient_id not in (None, who.patient_id):
            raise not_found("hold")
        patient_id = who.patient_id
    elif patient_id is None:
        raise validation_failed({"patient_id": "is required"})
    call = _commands(request).book(
        caller_of(who), uuid.UUID(body["hold_id"]), audit_actor(request, who),
        patient_id=patient_id, visit_reason=body.get("visit_reason"),
    )  # fmt: skip
    booked = await shared.settled(call, m.Booked)
    if booked.created:
        await _announce(request, booked.appointment)
    return json_response(render_appointment(booked.appointment), status=201)


async def public_book(request: web.Request) -> web.Response:
    body = await read_json(request, PUBLIC_BOOK_BODY)
    contact = body["contact"]
    guest = m.GuestContact(contact["name"], contact["email"], contact["phone"])
    call = _commands(request).book(
        anonymous(body["hold_token"]), uuid.UUID(body["hold_id"]), _public_actor(request),
        guest=guest, visit_reason=body.get("visit_reason"),
        consent=requests.guest_consent(request, body.get("consent")),
    )  # fmt: skip
    booked = await shared.settled(call, m.Booked)
    booking = booked.appointment
    appt = render_appointment(booking)
    appt.pop("patient_id", None)  # a public answer names no patient record
    if booking.status is AppointmentStatus.REQUESTED:  # staff answer it (server/scheduling)
        async with request.app[DB_KEY].tenant(booking.organization_id) as conn:
            appt["request"] = (await booking_request(conn, booking.id)).as_json()
        if booked.created:
            await publish(request, requests.request_events(REQUESTED_EVENT, booking))
    elif booked.created:
        await _announce(request, booking)
    return json_response(appt, status=201)


# A public booking's answer: the appointment without its patient record.
PUBLIC_BOOKED = {
    **APPOINTMENT_RESPONSE,
    "required": [f for f in APPOINTMENT_RESPONSE["required"] if f != "patient_id"],
    # status `requested`: a request staff confirm or decline (its state here)
    "properties": {**APPOINTMENT_RESPONSE["properties"], "request": requests.REQUEST_STATE},
}

ENDPOINTS = [
    Endpoint("GET", "/v1/public/calendars/{id}/slots", public_slots, PUBLIC_SLOTS,
             "Bookable slots of a public calendar, with the stream position they reflect", TAG,
             response_schema=SLOTS_RESPONSE, query=shared.SLOT_QUERY, errors=(404, 422, 429, 503)),
    Endpoint("POST", "/v1/holds", create_hold, HOLDERS,
             "Hold a slot (expires after the calendar's hold TTL; one live hold per holder and "
             "calendar: a new one replaces the old). Header Idempotency-Key makes retries safe",
             TAG, HOLD_BODY, shared.HOLD_RESPONSE, status=201, idempotent=True,
             errors=(404, 409, 422, 503)),
    Endpoint("DELETE", "/v1/holds/{id}", delete_hold, HOLDERS, "Release a hold", TAG,
             status=204, errors=(404, 409, 503)),
    Endpoint("POST", "/v1/appointments", book, BOOKERS,
             "Book a held slot: the hold becomes an appointment", TAG, BOOK_BODY,
             APPOINTMENT_RESPONSE, status=201, errors=(404, 409, 410, 422, 503)),
    Endpoint("POST", "/v1/public/holds", create_public_hold, PUBLIC_HOLDS,
             "Hold a slot of a public calendar anonymously; returns a hold_token", TAG,
             PUBLIC_HOLD_BODY, shared.HOLD_RESPONSE, status=201, idempotent=True,
             errors=(404, 409, 422, 429, 503)),
    Endpoint("DELETE", "/v1/public/holds/{id}", delete_public_hold, PUBLIC_HOLDS,
             "Release an anonymous hold (X-Hold-Token header or {hold_token} body)", TAG,
             RELEASE_BODY, status=204, errors=(404, 422, 429, 503)),
    Endpoint("POST", "/v1/public/bookings", public_book, PUBLIC_BOOKINGS,
             "Book an anonymous hold as a guest patient; where the clinic's policy says so it "
             "becomes a request staff confirm or decline (status requested), and where the "
             "clinic requires it, the guest's consent to its privacy policy is required "
             "(422 consent_required / consent_outdated)", TAG, PUBLIC_BOOK_BODY, PUBLIC_BOOKED,
             status=201,
             errors=(404, 409, 410, 422, 429, 503)),
]  # fmt: skip
