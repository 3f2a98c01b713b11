"""Walk-ins (ClinicFlow's front desk): a patient at the desk is booked and checked in at once.

The patient is named by id, or by their details: a patient already known by that e-mail or
phone is matched instead of duplicated, otherwise a record is created (before the booking, so a
refused booking leaves a findable patient, never half an appointment). The time is now unless
the desk says otherwise and need not be a slot: the patient is here. The specialist must be free
(their appointments and live holds), or the booking is forced: an admin, where the clinic's
policy allows it, with a reason kept on the appointment and in the audit (the calendar shard
checks both, storage/scheduling/_policies.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from actors.calendar import caller_of
from actors.calendar import messages as m
from server.errors import validation_failed
from server.http import json_response, read_json
from server.routing import Endpoint
from server.scheduling import booking, schemas
from server.scheduling._web import Work, parse_instant, unit_of_work
from server.scheduling.access import FRONT_DESK
from server.scheduling.appointments import render_appointment
from server.scheduling.patients import PATIENTS
from server.scheduling.shards import settled
from server.services import CALENDARS_KEY
from storage import scheduling as store
from storage.scheduling import EVENT_TYPES, Action
from storage.sealed import blind_index

TAG = "scheduling: appointments"
# How far from now a walk-in may be placed: the desk books the patient who is here.
WINDOW = timedelta(hours=12)
WALK_IN: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["calendar_id"],
    "properties": {
        "calendar_id": schemas.UUID,
        "specialist_id": {"anyOf": [schemas.UUID, {"type": "null"}]},
        "patient_id": schemas.UUID,
        "patient": schemas.PATIENT,
        "start": {**schemas.INSTANT, "description": "default: now (to the minute)"},
        "force_reason": {
            "type": "string",
            "minLength": 1,
            "maxLength": 500,
            "description": "book over a conflict (admins, where the clinic's policy allows it)",
        },
        "visit_reason": schemas.VISIT_REASON,
    },
}
WALK_IN_RESPONSE: dict[str, Any] = {
    "type": "object",
    "required": ["appointment", "patient_id", "patient_created"],
    "properties": {
        "appointment": schemas.APPOINTMENT_RESPONSE,
        "patient_id": schemas.UUID,
        "patient_created": {"type": "boolean"},
    },
}


async def _patient(work: Work, body: dict[str, Any]) -> tuple[uuid.UUID, bool]:
    """The named patient, the known one with these contact details, or a new record."""
    if ("patient_id" in body) == ("patient" in body):
        raise validation_failed({"patient": "give exactly one of patient_id and patient"})
    if "patient_id" in body:
        patient_id = uuid.UUID(body["patient_id"])
        if not await store.patient_exists(patient_id):
            raise validation_failed({"patient_id": "no such patient"})
        return patient_id, False
    details = body["patient"]
    keys = {
        column: blind_index(work.keys, "patients", column, work.org_id, details[column])
        if details.get(column)
        else None
        for column in ("email", "phone")
    }
    known = await store.patient_by_contact(keys["email"], keys["phone"])
    if known is not None:
        return known, False
    values = await PATIENTS.columns(work, dict(details), None)
    created = await store.insert_row(PATIENTS.rows, values)
    await work.audit("patient.create", "patient", created["id"], after={"walk_in": True})
    work.emit_org("patient.created", {"id": created["id"]})
    return created["id"], True


def _specialist(
    snap: store.CalendarSnapshot, wanted: uuid.UUID | None, start: datetime, forced: bool
) -> tuple[uuid.UUID, bool]:
    """The named member, else the first free one in the calendar's order, and whether they are
    busy (only a forced booking takes a busy one); 409 with what is in the way otherwise."""
    members = [x.specialist.id for x in snap.calendar.specialists]
    if wanted is not None and wanted not in members:
        raise validation_failed({"specialist_id": "is not an active specialist of this calendar"})
    if not members:
        raise validation_failed({"calendar_id": "the calendar has no specialist"})
    candidates = [wanted] if wanted is not None else members
    now = datetime.now(UTC)
    for sid in candidates:
        if booking.explain(snap, sid, start, now - WINDOW)["reason"] != "busy":
            return sid, False
    if forced:
        return candidates[0], True
    conflict = booking.explain(snap, candidates[0], start, now - WINDOW)
    raise store.SlotUnavailable("the specialist is not free at this time", [conflict])


async def walk_in(request: web.Request) -> web.Response:
    body = await read_json(request, WALK_IN)
    now = datetime.now(UTC)
    start = parse_instant(body["start"], "start") if "start" in body else now
    start = start.replace(second=0, microsecond=0)
    if abs(start - now) > WINDOW:
        raise validation_failed({"start": "a walk-in is within 12 hours of now"})
    calendar_id = uuid.UUID(body["calendar_id"])
    wanted = uuid.UUID(body["specialist_id"]) if body.get("specialist_id") else None
    forced_reason = body.get("force_reason")
    async with unit_of_work(request) as work:
        patient_id, created = await _patient(work, body)
    async with unit_of_work(request) as work:
        if await store.calendar_zone(calendar_id) is None:
            raise validation_failed({"calendar_id": "no such calendar"})
        snap = await store.load_calendar_snapshot(
            work.conn, calendar_id, now=now, window=(start - timedelta(days=1), start + WINDOW)
        )
        specialist_id, busy = _specialist(snap, wanted, start, forced_reason is not None)
        if not busy:  # nothing to force: the booking keeps the database's no-overlap proof
            forced_reason = None
        span = m.Span(specialist_id, start, start + timedelta(minutes=snap.calendar.duration_min))
        command = m.WalkIn(
            calendar_id, caller_of(work.principal), work.actor, patient_id, span, forced_reason,
            body.get("visit_reason"),
        )  # fmt: skip
        written = await settled(request.app[CALENDARS_KEY].write(command), m.Written)
        arrived = written.appointments[0]
        work.emit_appointment(store.BOOKED_EVENT, arrived, walk_in=True)
        work.emit_appointment(EVENT_TYPES[Action.CHECK_IN], arrived)
    return json_response(
        {
            "appointment": render_appointment(arrived, _reason(body)),
            "patient_id": str(patient_id),
            "patient_created": created,
        },
        status=201,
    )


def _reason(body: dict[str, Any]) -> dict[str, Any]:
    return {"visit_reason": body.get("visit_reason"), "desk_note": None}


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/walk-ins",
        walk_in,
        FRONT_DESK,
        "A patient at the desk: matched or created, booked now (or at `start`) and checked in at "
        "once; 409 slot_unavailable when the specialist is busy, unless an admin forces it "
        "(force_reason, where the clinic's policy allows: 403 policy_refused otherwise)",
        TAG,
        request_schema=WALK_IN,
        response_schema=WALK_IN_RESPONSE,
        status=201,
        errors=(403, 409, 422, 503),
    ),
]
