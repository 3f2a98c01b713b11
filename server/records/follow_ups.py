"""REST endpoints of follow-ups (ClinicFlow): a clinician asks for a patient to be seen again by a
date; the front desk works the queue (`GET /v1/follow-ups?state=pending&due_before=...`) and
books the appointment that fulfils each one.

Who: clinicians (admins, and specialists treating the patient) create follow-ups. The front desk
(admins, receptionists) sees and moves every follow-up of the clinic; a specialist those of the
patients they treat. The reason is a scheduling reason ("re-check the knee in two weeks"), shown
to the front desk: clinical detail belongs in a note. A follow-up the caller may not see, of
another organization included, is 404.

Transitions are `storage.follow_ups.TRANSITIONS`; one the table lacks is 409
`invalid_transition` with the allowed actions. Scheduling names an appointment of the same
patient that still takes place (not cancelled, not a no-show; 422 otherwise).

After the commit, `follow_up.changed` `{id, state, patient_id, due_on}` goes to the staff
channel (`org:<id>`) on creation and on every transition; the dashboard's `follow_ups_due` card
follows it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Any

from aiohttp import web

from server.errors import not_found, validation_failed
from server.http import iso, json_response, path_id, read_json
from server.records import clinical_schemas as schemas
from server.routing import Endpoint, roles
from server.web.paging import cursor_uuid, page_of, page_response
from server.web.params import date_value, query_uuid, uuid_value
from server.work import Work, unit_of_work
from storage import follow_ups as store
from storage.care_team import ClinicalView, clinical_view, patient_exists
from storage.follow_ups import Action, FollowUpState
from storage.scheduling import find_appointment
from storage.types import Channel, Role

TAG = "records"
CREATORS = roles(Role.ADMIN, Role.SPECIALIST)
WORKERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST)
NOT_THE_PATIENTS = "is not an appointment of this patient"


class _Work(Work):
    def emit_changed(self, follow_up: Mapping[str, Any]) -> None:
        """Ids, state and date only: the reason stays sealed in Postgres."""
        self.emit(
            Channel.org(self.org_id),
            "follow_up.changed",
            {
                "id": follow_up["id"],
                "state": follow_up["state"],
                "patient_id": follow_up["patient_id"],
                "due_on": follow_up["due_on"].isoformat(),
            },
        )


def _tenant(request: web.Request) -> AbstractAsyncContextManager[_Work]:
    return unit_of_work(request, _Work)


async def _sees(work: _Work, patient_id: uuid.UUID) -> ClinicalView:
    """What the caller sees of the patient; NONE for a deleted (or erased) patient, whose
    follow-ups leave the queue (a specialist's relation outlives it in `clinical_view`)."""
    view = await clinical_view(work.conn, work.principal, patient_id)
    if view is ClinicalView.NONE or not await patient_exists(patient_id):
        return ClinicalView.NONE
    return view


async def _follow_up(work: _Work, follow_up_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
    """The follow-up, if the caller may see its patient (404 otherwise, like an unknown id)."""
    found = await store.get_follow_up(work.keys, follow_up_id, lock=lock)
    if found is None or await _sees(work, found["patient_id"]) is ClinicalView.NONE:
        raise not_found("follow-up")
    return found


async def _patients_appointment(
    appointment_id: uuid.UUID, patient_id: uuid.UUID, field: str, *, to_fulfil: bool = False
) -> None:
    """422 unless the appointment is the patient's; `to_fulfil`: and it still takes place (a
    cancelled or missed appointment fulfils nothing)."""
    appointment = await find_appointment(appointment_id)
    if appointment is None or appointment.patient_id != patient_id:
        raise validation_failed({field: NOT_THE_PATIENTS})
    if to_fulfil and not appointment.status.holds_time:
        raise validation_failed({field: f"is {appointment.status.value}"})


def _uuid(value: Any) -> str | None:
    return None if value is None else str(value)


def render(f: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(f["id"]),
        "patient_id": str(f["patient_id"]),
        "from_appointment_id": _uuid(f["from_appointment_id"]),
        "scheduled_appointment_id": _uuid(f["scheduled_appointment_id"]),
        "reason": f["reason"],
        "due_on": f["due_on"].isoformat(),
        "state": f["state"],
        "created_by": _uuid(f["created_by"]),
        "created_by_role": f["created_by_role"],
        "created_at": iso(f["created_at"]),
        "updated_at": iso(f["updated_at"]),
    }


async def create(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    body = await read_json(request, schemas.NEW_FOLLOW_UP)
    due_on = date_value(body["due_on"], "due_on")
    raw_from = body.get("from_appointment_id")
    from_id = None if raw_from is None else uuid_value(raw_from, "from_appointment_id")
    async with _tenant(request) as work:
        if await _sees(work, patient_id) is not ClinicalView.FULL:
            raise not_found("patient")
        if from_id is not None:
            await _patients_appointment(from_id, patient_id, "from_appointment_id")
        created = await store.create_follow_up(
            work.keys,
            work.org_id,
            patient_id=patient_id,
            from_appointment_id=from_id,
            reason=body["reason"],
            due_on=due_on,
            by_user=work.principal.user_id,
            by_role=work.principal.role.value,
        )
        await work.audit(
            "follow_up.create",
            "follow_up",
            created["id"],
            after={
                "patient_id": patient_id,
                "from_appointment_id": from_id,
                "due_on": due_on.isoformat(),
                "state": created["state"],
            },
        )
        work.emit_changed(created)
    return json_response(render(created), status=201)


def _queue_filters(request: web.Request) -> tuple[FollowUpState | None, date | None]:
    raw_state = request.query.get("state")
    state = None
    if raw_state:
        try:
            state = FollowUpState(raw_state)
        except ValueError:
            allowed = ", ".join(s.value for s in FollowUpState)
            raise validation_failed({"state": f"must be one of {allowed}"}) from None
    raw_due = request.query.get("due_before")
    return state, (date_value(raw_due, "due_before") if raw_due else None)


async def list_(request: web.Request) -> web.Response:
    """The queue: earliest due first, paged by (due_on, id)."""
    state, due_before = _queue_filters(request)
    patient_id = query_uuid(request, "patient_id")
    page = page_of(request, 2)
    after = None
    if page.after is not None:
        try:
            after = (date.fromisoformat(str(page.after[0])), cursor_uuid(page.after[1]))
        except ValueError:
            raise validation_failed({"cursor": "is not a cursor this endpoint issued"}) from None
    async with _tenant(request) as work:
        who = work.principal
        treated_by = None
        if who.role is Role.SPECIALIST:
            if who.specialist_id is None:  # a specialist token without its specialist: no one
                return json_response({"data": [], "next_cursor": None})
            treated_by = who.specialist_id
        found = await store.list_follow_ups(
            work.conn,
            work.keys,
            state=state,
            due_before=due_before,
            patient_id=patient_id,
            treated_by=treated_by,
            limit=page.limit + 1,
            after=after,
        )
    return json_response(
        page_response(found, page, render, lambda f: [f["due_on"].isoformat(), f["id"]])
    )


async def get(request: web.Request) -> web.Response:
    follow_up_id = path_id(request, what="follow-up")
    async with _tenant(request) as work:
        found = await _follow_up(work, follow_up_id)
    return json_response(render(found))


def _transition(action: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        follow_up_id = path_id(request, what="follow-up")
        appointment_id = None
        if action is Action.SCHEDULE:
            body = await read_json(request, schemas.SCHEDULE)
            appointment_id = uuid_value(body["appointment_id"], "appointment_id")
        elif request.body_exists:
            await read_json(request, schemas.NO_BODY)
        async with _tenant(request) as work:
            before = await _follow_up(work, follow_up_id, lock=True)
            # The state machine first: a refused transition is 409 whatever the body names.
            store.next_state(FollowUpState(before["state"]), action)
            if appointment_id is not None:
                await _patients_appointment(
                    appointment_id, before["patient_id"], "appointment_id", to_fulfil=True
                )
            after = await store.transition_follow_up(
                work.keys, before, action, appointment_id=appointment_id
            )
            await work.audit(
                f"follow_up.{action.value}",
                "follow_up",
                follow_up_id,
                before={
                    "state": before["state"],
                    "scheduled_appointment_id": before["scheduled_appointment_id"],
                },
                after={
                    "state": after["state"],
                    "scheduled_appointment_id": after["scheduled_appointment_id"],
                },
            )
            work.emit_changed(after)
        return json_response(render(after))

    handler.__name__ = f"follow_up_{action.value}"
    return handler


_ONE = "/v1/follow-ups/{id}"
_SUMMARIES = {
    Action.SCHEDULE: "Schedule a follow-up: link the appointment that fulfils it",
    Action.COMPLETE: "Mark a follow-up done",
    Action.CANCEL: "Cancel a follow-up",
    Action.REOPEN: "Reopen a scheduled follow-up (its appointment fell through)",
}
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/v1/patients/{id}/follow-ups",
        create,
        CREATORS,
        "Ask for a patient to be seen again by a date",
        TAG,
        request_schema=schemas.NEW_FOLLOW_UP,
        response_schema=schemas.FOLLOW_UP,
        status=201,
        errors=(404, 422),
    ),
    Endpoint(
        "GET",
        "/v1/follow-ups",
        list_,
        WORKERS,
        "The follow-ups queue, earliest due first (specialists: their patients')",
        TAG,
        response_schema=schemas.FOLLOW_UPS_PAGE,
        query={
            "state": "pending | scheduled | done | cancelled",
            "due_before": "YYYY-MM-DD (due strictly before)",
            "patient_id": "",
            "limit": "page size",
            "cursor": "next_cursor",
        },
        errors=(422,),
    ),
    Endpoint(
        "GET",
        _ONE,
        get,
        WORKERS,
        "A follow-up",
        TAG,
        response_schema=schemas.FOLLOW_UP,
        errors=(404,),
    ),  # fmt: skip
    *(
        Endpoint(
            "POST",
            f"{_ONE}/{action.value}",
            _transition(action),
            WORKERS,
            summary,
            TAG,
            request_schema=schemas.SCHEDULE if action is Action.SCHEDULE else schemas.NO_BODY,
            body_optional=action is not Action.SCHEDULE,
            response_schema=schemas.FOLLOW_UP,
            errors=(404, 409, 422),
        )
        for action, summary in _SUMMARIES.items()
    ),
]
