"""Appointments over REST: reading (scoped by role), the staff booking path (recurring series,
all-or-nothing), reschedule, cancel, and the state machine's transitions.

Every write that changes availability is a command to the calendar shard owning the
appointment's organization (actors/calendar/_commands.py): the handler validates the request
against the rules, the shard decides it against the live holds, commits it and publishes the
slot changes of every calendar sharing the specialist before answering. Booking from a hold
(`POST /v1/appointments`) is in server/live.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from actors.calendar import caller_of
from actors.calendar import messages as m
from server.errors import ApiError, not_found, validation_failed
from server.http import audit_actor, iso, json_response, path_id, read_json
from server.routing import Endpoint, page, roles
from server.scheduling import booking, schemas
from server.scheduling._web import (
    Work,
    appointment_events,
    cursor_key,
    page_of,
    page_response,
    parse_instant,
    query_uuid,
    unit_of_work,
)
from server.scheduling.access import APPOINTMENT_READERS, FRONT_DESK, STAFF
from server.scheduling.shards import settled
from server.services import CALENDARS_KEY
from server.work import member, publish
from storage import scheduling as store
from storage.audit import AuditActor
from storage.scheduling import Action, Appointment, AppointmentStatus
from storage.types import Principal, Role

TAG = "scheduling: appointments"
# Cancel and reschedule: the front desk, and patients for their own appointments (the calendar
# shard applies the clinic's policy to them, storage/scheduling/_policies.py).
PATIENT_CHANGERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.PATIENT)


def render_appointment(a: Appointment, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The appointment; with `details` (reads), its visit reason and desk note too."""
    extra = {} if details is None else {k: details.get(k) for k in store.DETAIL_FIELDS}
    return extra | {
        "id": str(a.id),
        "status": a.status.value,
        "calendar_id": str(a.calendar_id),
        "specialist_id": str(a.specialist_id),
        "patient_id": str(a.patient_id),
        "service_id": str(a.service_id),
        "start": iso(a.starts_at),
        "end": iso(a.ends_at),
        "series_id": str(a.series_id) if a.series_id else None,
        "series_index": a.series_index,
        "forced_reason": a.forced_reason,
        "created_at": iso(a.created_at),
        "updated_at": iso(a.updated_at),
    }


def _own(work: Work) -> dict[str, uuid.UUID | None]:
    """Specialists and patients see their own appointments only."""
    who = work.principal
    if who.role is Role.SPECIALIST:
        return {"specialist_id": who.specialist_id or uuid.UUID(int=0)}
    if who.role is Role.PATIENT:
        return {"patient_id": who.patient_id or uuid.UUID(int=0)}
    return {}


async def _rendered(work: Work, found: list[Appointment]) -> list[dict[str, Any]]:
    """Appointments as reads show them: with their details (a patient is not shown the
    front desk's note)."""
    details = await store.details_of(work.keys, [a.id for a in found])
    shown = [render_appointment(a, details.get(a.id, {})) for a in found]
    if work.principal.role is Role.PATIENT:
        for row in shown:
            row.pop("desk_note", None)
    return shown


async def _visible(work: Work, appointment_id: uuid.UUID) -> Appointment:
    appt = await store.find_appointment(appointment_id, **_own(work))
    if appt is None:
        raise not_found("appointment")
    return appt


async def list_appointments(request: web.Request) -> web.Response:
    """Appointments by start time, filtered by window, specialist, patient, calendar, status."""
    page = page_of(request)
    q = request.query
    start = parse_instant(q["from"], "from") if q.get("from") else None
    stop = parse_instant(q["to"], "to") if q.get("to") else None
    status = q.get("status") or None
    if status is not None and status not in AppointmentStatus.__members__.values():
        raise validation_failed({"status": "is not an appointment status"})
    after_start: datetime | None = None
    after_id: uuid.UUID | None = None
    if page.after is not None:
        raw_start, raw_id = cursor_key(page, 2)
        try:
            after_start, after_id = datetime.fromisoformat(raw_start), uuid.UUID(raw_id)
        except (TypeError, ValueError):
            raise validation_failed({"cursor": "is not a cursor this endpoint issued"}) from None
    named = ("specialist_id", "patient_id", "calendar_id", "room_id", "location_id")
    filters = {n: query_uuid(request, n) for n in named}
    after = None if after_start is None or after_id is None else (after_start, after_id)
    async with unit_of_work(request) as work:
        own = _own(work)
        query = store.AppointmentFilter(
            start=start, stop=stop, status=status, after=after, **filters,
            own_specialist=own.get("specialist_id"), own_patient=own.get("patient_id"),
        )  # fmt: skip
        found = await store.list_appointments(work.conn, query, page.limit + 1)
        shown = await _rendered(work, found)
    keys = {str(a.id): a.starts_at.isoformat() for a in found}
    return json_response(
        page_response(shown, page, lambda r: r, lambda r: [keys[r["id"]], r["id"]])
    )


async def get_appointment(request: web.Request) -> web.Response:
    appointment_id = path_id(request, what="appointment")
    async with unit_of_work(request) as work:
        [shown] = await _rendered(work, [await _visible(work, appointment_id)])
    return json_response(shown)


async def patch_details(request: web.Request) -> web.Response:
    """Set the visit reason or the front desk's note (staff; a specialist on their own
    appointments); a patient may state the visit reason of their own."""
    appointment_id = path_id(request, what="appointment")
    body = await read_json(request, schemas.DETAILS)
    async with unit_of_work(request) as work:
        appt = await _visible(work, appointment_id)
        if work.principal.role is Role.PATIENT and "desk_note" in body:
            raise validation_failed({"desk_note": "is the front desk's"})
        await store.set_details(
            work.conn, work.keys, organization_id=appt.organization_id,
            appointment_id=appt.id, patient_id=appt.patient_id, values=body,
            by=work.principal.user_id,
        )  # fmt: skip
        # The audit names the fields changed, never their text (patient data).
        await work.audit(
            "appointment.details", "appointment", appt.id, after={"fields": sorted(body)}
        )
        work.emit_org("appointment.details_changed", {"id": appt.id, "fields": sorted(body)})
        [shown] = await _rendered(work, [appt])
    return json_response(shown)


async def get_history(request: web.Request) -> web.Response:
    """Every status change and move of the appointment, oldest first."""
    appointment_id = path_id(request, what="appointment")
    async with unit_of_work(request) as work:
        await _visible(work, appointment_id)
        rows = await store.appointment_history(appointment_id)
    return json_response({"data": [_render_history(r) for r in rows], "next_cursor": None})


def _render_history(r: Mapping[str, Any]) -> dict[str, Any]:
    def text(v: Any) -> str | None:
        return None if v is None else str(v)

    return {
        "action": r["action"],
        "from_status": r["from_status"],
        "to_status": r["to_status"],
        "from_start": iso(r["from_starts_at"]),
        "from_end": iso(r["from_ends_at"]),
        "from_specialist_id": text(r["from_specialist_id"]),
        "start": iso(r["starts_at"]),
        "end": iso(r["ends_at"]),
        "specialist_id": text(r["specialist_id"]),
        "actor_user_id": text(r["actor_user_id"]),
        "actor_role": r["actor_role"],
        "at": iso(r["created_at"]),
    }


def _require_member(snap: store.CalendarSnapshot, specialist_id: uuid.UUID | None) -> None:
    members = {m.specialist.id for m in snap.calendar.specialists}
    if specialist_id is not None and specialist_id not in members:
        raise validation_failed({"specialist_id": "is not an active specialist of this calendar"})


async def _write(request: web.Request, command: m.StaffWrite) -> m.Written:
    """The owning shard's answer to a staff write; its failures become API errors."""
    return await settled(request.app[CALENDARS_KEY].write(command), m.Written)


async def _announce(request: web.Request, work: Work) -> None:
    """Publish what `work` emitted about a staff write. The write is the owning shard's own
    transaction, so the reads that led to it end first: a pooled connection is never held
    while the request waits in the shard's queue (under a busy front desk that wait, not the
    database, had emptied the pool)."""
    await publish(request, work.events)


async def _calendar_of(work: Work, appointment_id: uuid.UUID) -> uuid.UUID:
    calendar_id = await store.appointment_calendar(work.conn, appointment_id)
    if calendar_id is None:
        raise not_found("appointment")
    return calendar_id


async def create_series(request: web.Request) -> web.Response:
    """Book a recurring series (e.g. 10 weekly sessions) with one specialist, all or nothing:
    409 slot_unavailable lists every occurrence that cannot be booked and why."""
    body = await read_json(request, schemas.SERIES)
    calendar_id, patient_id = uuid.UUID(body["calendar_id"]), uuid.UUID(body["patient_id"])
    requested = uuid.UUID(body["specialist_id"]) if body.get("specialist_id") else None
    first = parse_instant(body["start"], "start")
    count, every = body.get("occurrences", 1), body.get("interval_days", 7)
    now = datetime.now(UTC)
    async with unit_of_work(request) as work:
        zone = await store.calendar_zone(calendar_id)
        if zone is None:
            raise validation_failed({"calendar_id": "no such calendar"})
        starts = booking.occurrence_starts(first, count, every, zone)
        snap = await store.load_calendar_snapshot(
            work.conn, calendar_id, now=now, window=(starts[0], starts[-1])
        )
        _require_member(snap, requested)
        forced_reason = body.get("force_reason")
        try:
            chosen = booking.plan_series(snap, starts, requested, now)
            forced_reason = None  # nothing to force: the database's no-overlap proof stays
        except store.SlotUnavailable:
            if forced_reason is None:
                raise
            if requested is None:
                message = "a forced booking names its specialist"
                raise validation_failed({"specialist_id": message}) from None
            if starts[0] < now:
                raise validation_failed({"start": "nobody books in the past"}) from None
            chosen = requested
        length = timedelta(minutes=snap.calendar.duration_min)
        spans = tuple(m.Span(chosen, s, s + length) for s in starts)
    written = await _write(
        request,
        m.BookSeries(
            calendar_id, caller_of(work.principal), work.actor, patient_id, spans, every,
            forced_reason, body.get("visit_reason"),
        ),
    )  # fmt: skip
    series_id, booked = written.series_id, written.appointments
    for appt in booked:
        work.emit_appointment(store.BOOKED_EVENT, appt, series_id=series_id)
    await _announce(request, work)
    return json_response(
        {"series_id": str(series_id), "appointments": [render_appointment(a) for a in booked]},
        status=201,
    )


async def reschedule(request: web.Request) -> web.Response:
    """Move an appointment atomically, to another time, specialist or calendar of the
    organization: the old time is freed and the new one taken in one statement; the id and
    status stay and the move is kept in its history. Moved to another calendar, it takes that
    calendar's service (length and buffers); the shard owning the organization owns both
    calendars, so the move is one decision."""
    appointment_id = path_id(request, what="appointment")
    body = await read_json(request, schemas.RESCHEDULE)
    start = parse_instant(body["start"], "start")
    now = datetime.now(UTC)
    async with unit_of_work(request) as work:
        current = await _visible(work, appointment_id)
        store.next_status(current.status, Action.RESCHEDULE)  # 409 before any slot question
        target = uuid.UUID(body["specialist_id"]) if body.get("specialist_id") else None
        target = target or current.specialist_id
        calendar_id = uuid.UUID(body["calendar_id"]) if body.get("calendar_id") else None
        if work.principal.role is Role.PATIENT and calendar_id not in (None, current.calendar_id):
            raise validation_failed({"calendar_id": "patients move within the same calendar"})
        if calendar_id is not None and await store.calendar_zone(calendar_id) is None:
            raise validation_failed({"calendar_id": "no such calendar"})
        calendar_id = calendar_id or current.calendar_id
        snap = await store.load_calendar_snapshot(
            work.conn, calendar_id, now=now, window=(start, start + timedelta(days=1))
        )
        length = current.ends_at - current.starts_at
        if calendar_id != current.calendar_id:
            length = timedelta(minutes=snap.calendar.duration_min)
        _require_member(snap, target)
        booking.check_move(snap, appointment_id, start, target, now)
    written = await _write(
        request,
        m.RescheduleAppointment(
            calendar_id, caller_of(work.principal), work.actor, appointment_id,
            m.Span(target, start, start + length), from_calendar=current.calendar_id,
        ),
    )  # fmt: skip
    before, after = written.previous[0], written.appointments[0]
    previous: dict[str, Any] = {
        "start": before.starts_at, "end": before.ends_at, "specialist_id": before.specialist_id,
    }  # fmt: skip
    if before.calendar_id != after.calendar_id:
        previous["calendar_id"] = before.calendar_id
    work.emit_appointment(store.EVENT_TYPES[Action.RESCHEDULE], after, previous=previous)
    await _announce(request, work)
    return json_response(render_appointment(after))


async def cancel(request: web.Request) -> web.Response:
    appointment_id = path_id(request, what="appointment")
    body = await read_json(request, schemas.CANCEL)
    reason = body["reason"]

    def command(calendar_id: uuid.UUID, who: Principal, actor: AuditActor) -> m.ChangeStatus:
        return m.ChangeStatus(
            calendar_id, caller_of(who), actor, appointment_id, Action.CANCEL.value,
            reason=reason, note=body.get("note"),
        )  # fmt: skip

    after = await _change_status(request, appointment_id, command)
    cancelled = store.EVENT_TYPES[Action.CANCEL]
    await publish(request, appointment_events(cancelled, after, {"reason": reason}))
    return json_response(render_appointment(after))


async def _change_status(
    request: web.Request,
    appointment_id: uuid.UUID,
    command: Callable[[uuid.UUID, Principal, AuditActor], m.ChangeStatus],
) -> Appointment:
    """Send a status change to the shard of the appointment's calendar. The calendar is the one
    this process last saw the appointment in (no transaction here: its shard checks it in its
    own), else the one Postgres names in the caller's organization (404 for none). A calendar
    the appointment has left since (moved through another process) is refused 404 by the
    shard, nothing written, and the change goes again to the calendar Postgres names."""
    who, org_id = member(request)
    actor = audit_actor(request, who)
    commands = request.app[CALENDARS_KEY]
    known = commands.known_calendar(org_id, appointment_id)
    if known is not None:
        try:
            return (await _write(request, command(known, who, actor))).appointments[0]
        except ApiError as exc:
            if exc.status != 404:
                raise
    async with unit_of_work(request) as work:
        calendar_id = await _calendar_of(work, appointment_id)
    return (await _write(request, command(calendar_id, who, actor))).appointments[0]


def _transition(action: Action) -> Any:
    async def handler(request: web.Request) -> web.Response:
        appointment_id = path_id(request, what="appointment")

        def command(calendar_id: uuid.UUID, who: Principal, actor: AuditActor) -> m.ChangeStatus:
            only = None
            if who.role is Role.SPECIALIST:  # a specialist moves only their own appointments
                only = who.specialist_id or uuid.UUID(int=0)
            return m.ChangeStatus(
                calendar_id, caller_of(who), actor, appointment_id, action.value,
                only_specialist=only,
            )  # fmt: skip

        after = await _change_status(request, appointment_id, command)
        await publish(request, appointment_events(store.EVENT_TYPES[action], after, {}))
        return json_response(render_appointment(after))

    handler.__name__ = f"appointment_{action.value}"
    return handler


TRANSITION_PATHS = {
    Action.CONFIRM: "confirm",
    Action.CHECK_IN: "check-in",
    Action.START: "start",
    Action.COMPLETE: "complete",
    Action.NO_SHOW: "no-show",
    Action.REOPEN: "reopen",
}
_ONE = "/v1/appointments/{id}"
ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/appointments",
        list_appointments,
        APPOINTMENT_READERS,
        "List appointments (specialists and patients see their own)",
        TAG,
        response_schema=page(schemas.APPOINTMENT_RESPONSE),
        query={
            "from": "RFC 3339",
            "to": "RFC 3339",
            "specialist_id": "",
            "patient_id": "",
            "calendar_id": "",
            "room_id": "the room it reserved (docs/scheduling-resources.md)",
            "location_id": "the location of a room or equipment it reserved",
            "status": "",
            "limit": "",
            "cursor": "",
        },
    ),
    Endpoint(
        "POST",
        "/v1/appointments/series",
        create_series,
        FRONT_DESK,
        "Book a recurring series (all or nothing)",
        TAG,
        request_schema=schemas.SERIES,
        response_schema=schemas.SERIES_OUT,
        status=201,
        errors=(409, 503),
    ),
    Endpoint(
        "GET",
        _ONE,
        get_appointment,
        APPOINTMENT_READERS,
        "Get an appointment",
        TAG,
        response_schema=schemas.APPOINTMENT_RESPONSE,
        errors=(404,),
    ),
    Endpoint(
        "PATCH",
        _ONE + "/details",
        patch_details,
        APPOINTMENT_READERS,
        "Set an appointment's visit reason or the front desk's note (a patient: the visit "
        "reason of their own)",
        TAG,
        request_schema=schemas.DETAILS,
        response_schema=schemas.APPOINTMENT_RESPONSE,
        errors=(404, 422),
    ),
    Endpoint(
        "GET",
        _ONE + "/history",
        get_history,
        APPOINTMENT_READERS,
        "An appointment's status changes and moves",
        TAG,
        response_schema=schemas.HISTORY_OUT,
        errors=(404,),
    ),
    Endpoint(
        "POST",
        _ONE + "/reschedule",
        reschedule,
        PATIENT_CHANGERS,
        "Move an appointment to another time or specialist (a patient: their own, within the "
        "clinic's policy, 403 policy_refused otherwise)",
        TAG,
        request_schema=schemas.RESCHEDULE,
        response_schema=schemas.APPOINTMENT_RESPONSE,
        errors=(403, 404, 409, 422, 503),
    ),
    Endpoint(
        "POST",
        _ONE + "/cancel",
        cancel,
        PATIENT_CHANGERS,
        "Cancel an appointment with a reason (one of the clinic's codes when it has a list); "
        "a patient cancels their own within the clinic's policy (403 policy_refused otherwise)",
        TAG,
        request_schema=schemas.CANCEL,
        response_schema=schemas.APPOINTMENT_RESPONSE,
        errors=(403, 404, 409, 422, 503),
    ),
] + [
    Endpoint(
        "POST",
        f"{_ONE}/{path}",
        _transition(action),
        STAFF,
        f"Appointment transition: {action.value}",
        TAG,
        response_schema=schemas.APPOINTMENT_RESPONSE,
        errors=(404, 409, 503),
    )
    for action, path in TRANSITION_PATHS.items()
]
