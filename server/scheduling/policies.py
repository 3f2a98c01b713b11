"""A clinic's scheduling policy, its cancellation reasons, and a patient's attendance.

The policy and the reasons are read by everyone of the clinic (a patient's app shows whether
and until when they may cancel, and the reasons to pick from) and written by admins. The calendar
shard applies them to every cancel and move (storage/scheduling/_policies.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from server.errors import not_found
from server.http import iso, json_response, path_id, read_json
from server.routing import Endpoint, roles
from server.scheduling import schemas
from server.scheduling._web import unit_of_work
from server.scheduling.access import ADMIN, APPOINTMENT_READERS
from server.web.paging import instant_id_page, page_response
from storage import scheduling as store
from storage.types import Role

TAG = "scheduling: policies"
_MINUTES = {"type": "integer", "minimum": 0, "maximum": 20160}
POLICY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "late_cancel_window_min": {
            **_MINUTES,
            "description": "a cancellation this close to the start is late (0: never)",
        },
        "patient_can_cancel": {"type": "boolean"},
        "patient_can_reschedule": {"type": "boolean"},
        "patient_min_notice_min": {
            **_MINUTES,
            "description": "patients cancel or move at least this long before the start",
        },
        "allow_forced_booking": {
            "type": "boolean",
            "description": "admins may book over a conflict, with a reason (walk-ins, series)",
        },
    },
}
POLICY_RESPONSE: dict[str, Any] = {**POLICY, "required": list(store.POLICY_FIELDS)}
_LABEL = {"type": "string", "minLength": 1, "maxLength": 200}
_POSITION = {"type": "integer", "minimum": 0, "maximum": 10000}
NEW_REASON: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["code", "label"],
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z0-9_]{1,40}$"},
        "label": _LABEL,
        "position": _POSITION,
    },
}
REASON_PATCH: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {"label": _LABEL, "position": _POSITION, "active": {"type": "boolean"}},
}
REASON: dict[str, Any] = {
    "type": "object",
    "required": ["id", "code", "label", "position", "active"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "code": {"type": "string"},
        "label": {"type": "string"},
        "position": {"type": "integer"},
        "active": {"type": "boolean"},
    },
}
ATTENDANCE_KINDS = ("no_show", "late_cancellation", "cancellation")


def _reason(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "code": r["code"],
        "label": r["label"],
        "position": r["position"],
        "active": r["active"],
    }


async def get_policy(request: web.Request) -> web.Response:
    async with unit_of_work(request):
        policy = await store.scheduling_policy()
    return json_response(policy.as_row())


async def put_policy(request: web.Request) -> web.Response:
    body = await read_json(request, POLICY)
    async with unit_of_work(request) as work:
        before = await store.scheduling_policy()
        after = await store.set_scheduling_policy(work.conn, work.org_id, body)
        await work.audit(
            "scheduling_policy.update",
            "scheduling_policy",
            work.org_id,
            before=before.as_row(),
            after=after.as_row(),
        )
    return json_response(after.as_row())


async def list_reasons(request: web.Request) -> web.Response:
    retired = request.query.get("include_retired") == "true"
    async with unit_of_work(request) as work:
        staff = work.principal.role is not Role.PATIENT
        found = await store.cancellation_reasons(include_retired=retired and staff)
    return json_response({"data": [_reason(r) for r in found], "next_cursor": None})


async def create_reason(request: web.Request) -> web.Response:
    body = await read_json(request, NEW_REASON)
    async with unit_of_work(request) as work:
        created = await store.add_cancellation_reason(
            work.org_id, body["code"], body["label"], body.get("position", 0)
        )
        await work.audit(
            "cancellation_reason.create", "cancellation_reason", created["id"], after=created
        )
    return json_response(_reason(created), status=201)


async def patch_reason(request: web.Request) -> web.Response:
    reason_id = path_id(request, what="cancellation reason")
    body = await read_json(request, REASON_PATCH)
    async with unit_of_work(request) as work:
        changed = await store.edit_cancellation_reason(reason_id, body)
        if changed is None:
            raise not_found("cancellation reason")
        await work.audit("cancellation_reason.update", "cancellation_reason", reason_id, after=body)
    return json_response(_reason(changed))


def _event(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "appointment_id": str(r["appointment_id"]),
        "kind": r["kind"],
        "start": iso(r["starts_at"]),
        "specialist_id": str(r["specialist_id"]),
        "at": iso(r["at"]),
        "reason": r["reason"],
        "by_role": r["by_role"],
    }


async def attendance(request: web.Request) -> web.Response:
    """The patient's missed and cancelled appointments, newest first, with the counts; a
    specialist sees their own appointments' share, a patient their own."""
    patient_id = path_id(request, what="patient")
    page = instant_id_page(request)
    async with unit_of_work(request) as work:
        who = work.principal
        if who.role is Role.PATIENT and who.patient_id != patient_id:
            raise not_found("patient")
        if not await store.patient_exists(patient_id):
            raise not_found("patient")
        only = who.specialist_id if who.role is Role.SPECIALIST else None
        if who.role is Role.SPECIALIST and only is None:
            raise not_found("patient")
        counts, events = await store.patient_attendance(
            work.conn, patient_id, page.limit + 1, page.after, specialist_id=only
        )
    body = page_response(events, page, _event, lambda r: [r["at"], r["appointment_id"]])
    body["counts"] = {k: int(v) for k, v in counts.items()}
    return json_response(body)


_READ = APPOINTMENT_READERS
ENDPOINTS = [
    Endpoint("GET", "/v1/scheduling-policy", get_policy, _READ,
             "The clinic's scheduling policy (late cancellations, patients' own changes)", TAG,
             response_schema=POLICY_RESPONSE),
    Endpoint("PUT", "/v1/scheduling-policy", put_policy, ADMIN,
             "Change the scheduling policy (fields not given keep their values)", TAG,
             request_schema=POLICY, response_schema=POLICY_RESPONSE, errors=(422,)),
    Endpoint("GET", "/v1/cancellation-reasons", list_reasons, _READ,
             "The clinic's cancellation reasons, in order (staff: include_retired=true)", TAG,
             query={"include_retired": "true: also the retired ones (staff)"},
             response_schema=schemas.REASONS_OUT),
    Endpoint("POST", "/v1/cancellation-reasons", create_reason, ADMIN,
             "Add a cancellation reason; once a clinic has one, a cancellation names a code",
             TAG, request_schema=NEW_REASON, response_schema=REASON, status=201,
             errors=(409, 422)),
    Endpoint("PATCH", "/v1/cancellation-reasons/{id}", patch_reason, ADMIN,
             "Relabel, reorder or retire a cancellation reason (codes are kept)", TAG,
             request_schema=REASON_PATCH, response_schema=REASON, errors=(404, 422)),
    Endpoint("GET", "/v1/patients/{id}/attendance", attendance,
             roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST, Role.PATIENT),
             "A patient's no-shows and cancellations (late ones marked), newest first, with "
             "counts of attended, no-show, cancelled and late-cancelled appointments", TAG,
             query={"limit": "page size", "cursor": "next_cursor"},
             response_schema=schemas.ATTENDANCE_OUT, errors=(404, 422)),
]  # fmt: skip
