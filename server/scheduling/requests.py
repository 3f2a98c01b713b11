"""Guest booking requests: the clinic's public booking policy, the booking terms a public page
shows, and the front desk's answer to a request (confirm or decline), plus the sweep that
expires the requests nobody answered.

A request is an appointment in status `requested`, made by `POST /v1/public/bookings` when the
policy (clinic-wide, or the calendar's own mode) says so; it keeps its time like a booking. Every
decision is a status write to the calendar shard owning the organization (the single writer):
confirm -> booked; decline or expiry -> cancelled, which frees the time in the same step. Each
is pushed on the organization's staff channel and the guest's patient channel
(`appointment.requested`, `.request_confirmed`, `.request_declined`, `.request_expired`); the
guest is told by the notification the appointment's trigger queues in the same transaction.
A confirmation after the deadline expires the request instead and answers 410 request_expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from actors.calendar import CalendarCommands, caller_of
from actors.calendar import messages as m
from server.errors import ApiError, not_found
from server.http import client_ip, iso, json_response, path_id, read_json
from server.logs import request_id_var
from server.resources import DB_KEY, EVENTS_KEY
from server.routing import Endpoint, RateLimit, public
from server.scheduling._web import appointment_event_data, unit_of_work
from server.scheduling.access import ADMIN, FRONT_DESK
from server.scheduling.appointments import render_appointment
from server.scheduling.schemas import APPOINTMENT_RESPONSE, UUID
from server.scheduling.shards import settled
from server.services import CALENDARS_KEY
from storage import scheduling as store
from storage.audit import SYSTEM
from storage.events import EventLog
from storage.jsonable import jsonable
from storage.scheduling import Action, Appointment, AppointmentStatus, GuestConsent
from storage.types import Channel

log = logging.getLogger("cadence.scheduling.requests")
TAG = "scheduling: booking requests"
EXPIRED = Counter(
    "cadence_booking_requests_expired_total", "Booking requests expired unanswered by the sweep"
)
SWEEP_EVERY_S = 15.0
SWEEP_BATCH = 200
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_VERSION = {"type": "string", "minLength": 1, "maxLength": 40}
_MODE = {"type": "string", "enum": ["instant", "request"]}

# What the guest accepted on the booking page: the clinic's current version and the SHA-256 of
# the text shown (GET /v1/public/calendars/{id}/booking-terms gives both).
CONSENT: dict[str, Any] = {
    "type": "object",
    "required": ["accepted", "privacy_policy_version", "privacy_policy_sha256"],
    "additionalProperties": False,
    "properties": {
        "accepted": {"const": True},
        "privacy_policy_version": _VERSION,
        "privacy_policy_sha256": _SHA256,
    },
}
POLICY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "mode": {**_MODE, "description": "instant: public bookings are booked at once; "
                                         "request: staff confirm or decline them"},
        "request_ttl_min": {"type": "integer", "minimum": 5, "maximum": 20160,
                            "description": "an unanswered request expires after this long "
                                           "(and at the latest when the appointment starts)"},
        "consent_required": {"type": "boolean"},
        "privacy_policy_version": {"anyOf": [_VERSION, {"type": "null"}]},
        "privacy_policy_sha256": {"anyOf": [_SHA256, {"type": "null"}]},
        "calendars": {
            "type": "object", "maxProperties": 200,
            "propertyNames": UUID,
            "additionalProperties": {"anyOf": [_MODE, {"type": "null"}]},
            "description": "a calendar's own mode over the clinic's; null: the clinic's again",
        },
    },
}  # fmt: skip
POLICY_FIELDS = ["mode", "request_ttl_min", "consent_required", "privacy_policy_version",
                 "privacy_policy_sha256", "calendars"]  # fmt: skip
POLICY_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": POLICY_FIELDS,
    "properties": {
        **{k: v for k, v in POLICY["properties"].items() if k != "calendars"},
        "calendars": {"type": "object", "additionalProperties": _MODE},
    },
}
REQUEST_STATE: dict[str, Any] = {
    "type": "object",
    "required": ["status", "expires_at", "decided_at", "consented"],
    "properties": {
        "status": {"type": "string", "enum": [s.value for s in store.RequestStatus]},
        "expires_at": {"type": "string", "format": "date-time"},
        "decided_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "consented": {"type": "boolean"},
    },
}
REQUEST_RESPONSE: dict[str, Any] = {
    **APPOINTMENT_RESPONSE,
    "required": [*APPOINTMENT_RESPONSE["required"], "request"],
    "properties": {**APPOINTMENT_RESPONSE["properties"], "request": REQUEST_STATE},
}
TERMS_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["calendar_id", "mode", "consent_required", "privacy_policy_version",
                 "privacy_policy_sha256"],
    "properties": {
        "calendar_id": UUID,
        "mode": _MODE,
        "consent_required": {"type": "boolean"},
        "privacy_policy_version": {"anyOf": [_VERSION, {"type": "null"}]},
        "privacy_policy_sha256": {"anyOf": [_SHA256, {"type": "null"}]},
    },
}  # fmt: skip
PUBLIC_TERMS = public(RateLimit(limit=300, window_s=10))


def guest_consent(request: web.Request, body: dict[str, Any] | None) -> GuestConsent | None:
    """The consent of a public booking's body, with the address and request it came from."""
    if body is None:
        return None
    return GuestConsent(
        body["privacy_policy_version"], body["privacy_policy_sha256"], client_ip(request),
        request_id_var.get() or None,
    )  # fmt: skip


def request_events(event_type: str, appt: Appointment) -> list[tuple[Any, str, Any]]:
    """A request's change on the staff channel (the organization's) and the guest's own."""
    data = jsonable(appointment_event_data(appt))
    return [
        (Channel.org(appt.organization_id).name, event_type, data),
        (Channel.patient(appt.patient_id).name, event_type, data),
    ]


async def _publish(events: EventLog, frames: list[tuple[Any, str, Any]]) -> None:
    try:
        async with asyncio.timeout(2.0):
            await events.publish_many(frames)
    except Exception as exc:  # committed already: a client that missed it refetches
        log.warning("booking request publish failed", extra={"error": repr(exc)})


# --- the clinic's policy -----------------------------------------------------------------


async def get_policy(request: web.Request) -> web.Response:
    async with unit_of_work(request) as work:
        policy = await store.public_booking_policy(work.conn, work.org_id)
    return json_response(policy.as_json())


async def put_policy(request: web.Request) -> web.Response:
    body = await read_json(request, POLICY)
    try:
        calendars = {uuid.UUID(k): v for k, v in (body.pop("calendars", None) or {}).items()}
    except ValueError:
        raise ApiError(422, "validation_failed", "request failed validation",
                       {"fields": {"calendars": "keys are calendar ids"}}) from None  # fmt: skip
    async with unit_of_work(request) as work:
        before = await store.public_booking_policy(work.conn, work.org_id)
        merged = {**before.as_json(), **body}
        if merged["consent_required"] and not (
            merged["privacy_policy_version"] and merged["privacy_policy_sha256"]
        ):
            message = "consent needs the policy's version and text digest"
            raise ApiError(422, "validation_failed", "request failed validation",
                           {"fields": {"privacy_policy_version": message}})  # fmt: skip
        try:
            after = await store.set_public_booking_policy(work.conn, work.org_id, body, calendars)
        except store.NotFound:
            raise ApiError(422, "validation_failed", "request failed validation",
                           {"fields": {"calendars": "no such calendar"}}) from None  # fmt: skip
        await work.audit("public_booking_policy.update", "public_booking_policy", work.org_id,
                         before=before.as_json(), after=after.as_json())  # fmt: skip
    return json_response(after.as_json())


async def public_terms(request: web.Request) -> web.Response:
    """What a public booking page of the calendar must show and send (never 401/403)."""
    calendar_id = path_id(request, what="calendar")
    org_id = await request.app[CALENDARS_KEY].owner(calendar_id)
    if org_id is None:
        raise not_found("calendar")
    async with request.app[DB_KEY].tenant(org_id) as conn:
        terms = await store.public_terms(conn, org_id, calendar_id)
    if terms is None:
        raise not_found("calendar")
    return json_response({"calendar_id": str(calendar_id), **terms})


# --- the front desk's answer -------------------------------------------------------------


def _gone(state: store.BookingRequest) -> ApiError:
    return ApiError(410, "request_expired",
                    "the booking request expired unanswered; its time is free again",
                    {"expires_at": iso(state.expires_at)})  # fmt: skip


async def _decide(request: web.Request, action: Action) -> web.Response:
    appointment_id = path_id(request, what="booking request")
    async with unit_of_work(request) as work:
        calendar_id = await store.appointment_calendar(work.conn, appointment_id)
        if calendar_id is None:
            raise not_found("booking request")
        command = m.ChangeStatus(
            calendar_id, caller_of(work.principal), work.actor, appointment_id, action.value
        )
        try:
            written = await settled(request.app[CALENDARS_KEY].write(command), m.Written)
        except ApiError as exc:
            # Expired already (by the sweep, or an earlier late confirmation): gone, not a
            # conflict; a request staff declined or confirmed stays a 409.
            if exc.code == "invalid_transition":
                state = await store.booking_request(work.conn, appointment_id)
                if state.status is store.RequestStatus.EXPIRED:
                    raise _gone(state) from None
            raise
        after = written.appointments[0]
        # A confirmation after the deadline expired the request instead (and freed its time).
        expired = action is Action.APPROVE and after.status is AppointmentStatus.CANCELLED
        work.emit_appointment(store.EVENT_TYPES[Action.EXPIRE if expired else action], after)
        state = await store.booking_request(work.conn, appointment_id)
    if expired:
        raise _gone(state)
    return json_response({**render_appointment(after), "request": state.as_json()})


async def confirm_request(request: web.Request) -> web.Response:
    return await _decide(request, Action.APPROVE)


async def decline_request(request: web.Request) -> web.Response:
    return await _decide(request, Action.DECLINE)


async def get_request(request: web.Request) -> web.Response:
    appointment_id = path_id(request, what="booking request")
    async with unit_of_work(request) as work:
        state = await store.booking_request(work.conn, appointment_id)
        found = await store.find_appointment(appointment_id)
    if found is None:
        raise not_found("booking request")
    return json_response({**render_appointment(found), "request": state.as_json()})


# --- expiry --------------------------------------------------------------------------------


async def sweep_once(
    db: Any, calendars: CalendarCommands, events: EventLog, now: datetime | None = None
) -> int:
    """Expire the pending requests past their deadline, each through its calendar's shard (so
    the time is freed and published by the single writer); returns how many expired. Several
    server processes may sweep at once: a request expires once, the other attempts answer 409
    or 404 and are skipped."""
    async with db.platform() as conn:
        due = await store.due_requests(conn, now or datetime.now(UTC), SWEEP_BATCH)
    done = 0
    for item in due:
        caller = m.Caller("system:request-expiry", item.organization_id, "admin")
        command = m.ChangeStatus(
            item.calendar_id, caller, SYSTEM, item.appointment_id, Action.EXPIRE.value
        )
        result = await calendars.write(command)
        if not isinstance(result, m.Written):
            continue
        after = result.appointments[0]
        await _publish(events, request_events(store.EVENT_TYPES[Action.EXPIRE], after))
        EXPIRED.inc()
        done += 1
    return done


async def expiry_ctx(app: web.Application) -> AsyncIterator[None]:
    """The sweep, every SWEEP_EVERY_S seconds in every server process."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                await sweep_once(app[DB_KEY], app[CALENDARS_KEY], app[EVENTS_KEY])
            except Exception as exc:  # the next pass retries; deadlines stay in Postgres
                log.warning("booking request sweep failed", extra={"error": repr(exc)})

    task = asyncio.create_task(loop(), name="booking-request-expiry")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


ENDPOINTS = [
    Endpoint("GET", "/v1/public-booking/policy", get_policy, FRONT_DESK,
             "The clinic's public booking policy: instant bookings or requests (per calendar), "
             "the request's time to answer, and the privacy policy guests must accept", TAG,
             response_schema=POLICY_RESPONSE),
    Endpoint("PUT", "/v1/public-booking/policy", put_policy, ADMIN,
             "Change the public booking policy (fields not given keep their values)", TAG,
             request_schema=POLICY, response_schema=POLICY_RESPONSE, errors=(422,)),
    Endpoint("GET", "/v1/public/calendars/{id}/booking-terms", public_terms, PUBLIC_TERMS,
             "What a public booking of the calendar becomes (instant or request) and the "
             "privacy policy (version, SHA-256 of its text) a guest must accept", TAG,
             response_schema=TERMS_RESPONSE, errors=(404, 429)),
    Endpoint("GET", "/v1/booking-requests/{id}", get_request, FRONT_DESK,
             "A guest's booking request (its appointment and the request's state)", TAG,
             response_schema=REQUEST_RESPONSE, errors=(404,)),
    Endpoint("POST", "/v1/booking-requests/{id}/confirm", confirm_request, FRONT_DESK,
             "Confirm a booking request: its appointment is booked and the guest told; "
             "410 request_expired after its deadline (the time is then free again)", TAG,
             response_schema=REQUEST_RESPONSE, errors=(404, 409, 410, 503)),
    Endpoint("POST", "/v1/booking-requests/{id}/decline", decline_request, FRONT_DESK,
             "Decline a booking request: its time is free again and the guest told", TAG,
             response_schema=REQUEST_RESPONSE, errors=(404, 409, 503)),
]  # fmt: skip
