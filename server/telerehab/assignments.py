"""REST: plan assignments (PROTOCOL.md `GET /v1/patients/{id}/plan-assignments`).

Patients see only their own assignments, specialists those of their patients, admins all of the
organization's (server/telerehab/_access.py). An assignment is answered with the exact snapshot it
was given, whatever happened to the plan since.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.http import iso, json_response, jsonable, path_id, read_json
from server.routing import Endpoint, roles
from server.telerehab import schemas
from server.telerehab._access import (
    CLINICAL_ROLES,
    ensure_patient_visible,
    ensure_prescriber,
    read_clinical,
)
from server.telerehab._web import (
    body_date,
    instant_id_after,
    page_of,
    page_response,
    tenant,
)
from storage.telerehab import (
    Assignment,
    assign_plan,
    end_assignment,
    get_assignment,
    list_assignments,
    load_assigned_plan,
)
from storage.types import Role

TAG = "plan assignments"
PRESCRIBERS = roles(Role.ADMIN, Role.SPECIALIST)


def render(a: Assignment) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "patient_id": str(a.patient_id),
        "plan_id": str(a.plan_id),
        "plan_version": a.plan_version,
        "plan_version_id": str(a.plan_version_id),
        "starts_on": a.starts_on.isoformat(),
        "ends_on": None if a.ends_on is None else a.ends_on.isoformat(),
        "frequency": a.frequency.to_json(),
        "status": a.status.value,
        "specialist_id": None if a.specialist_id is None else str(a.specialist_id),
        "replaces_id": None if a.replaces_id is None else str(a.replaces_id),
        "created_at": iso(a.created_at),
        "ended_at": iso(a.ended_at),
    }


async def list_(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    page = page_of(request, 2)
    after = instant_id_after(page)
    async with tenant(request) as work:
        await read_clinical(work.conn, work.who, work.actor, patient_id, "plan_assignments")
        rows = await list_assignments(patient_id, limit=page.limit + 1, after=after)
    return json_response(page_response(rows, page, render, lambda a: [a.created_at, a.id]))


async def create(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    body = await read_json(request, schemas.ASSIGNMENT_CREATE)
    body["starts_on"] = body_date(body["starts_on"], "starts_on")
    if body.get("ends_on") is not None:
        body["ends_on"] = body_date(body["ends_on"], "ends_on")
    async with tenant(request) as work:
        assert work.org_id is not None
        await ensure_prescriber(work.conn, work.who, patient_id)
        created = await assign_plan(
            work.conn,
            org_id=work.org_id,
            patient_id=patient_id,
            data=body,
            actor=work.actor,
            specialist_id=work.who.specialist_id,
        )
    return json_response(render(created), status=201)


async def get(request: web.Request) -> web.Response:
    assignment_id = path_id(request, what="plan assignment")
    async with tenant(request) as work:
        assigned = await load_assigned_plan(assignment_id)
        await read_clinical(work.conn, work.who, work.actor, assigned.assignment.patient_id,
                            "plan_assignment", assignment_id)  # fmt: skip
    return json_response(
        {
            **render(assigned.assignment),
            "snapshot_digest": assigned.snapshot_digest,
            "plan": jsonable(assigned.snapshot),
        }
    )


async def end(request: web.Request) -> web.Response:
    assignment_id = path_id(request, what="plan assignment")
    async with tenant(request) as work:
        assert work.org_id is not None
        current = await get_assignment(assignment_id)
        await ensure_patient_visible(work.conn, work.who, current.patient_id)
        ended = await end_assignment(work.conn, assignment_id, org_id=work.org_id,
                                     actor=work.actor)  # fmt: skip
    return json_response(render(ended))


ENDPOINTS = [
    Endpoint("GET", "/v1/patients/{id}/plan-assignments", list_, roles(*CLINICAL_ROLES),
             "A patient's plan assignments", TAG,
             query={"limit": "page size", "cursor": "next_cursor of the previous page"},
             errors=(404,), response_schema=schemas.ASSIGNMENT_PAGE),
    Endpoint("POST", "/v1/patients/{id}/plan-assignments", create, PRESCRIBERS,
             "Assign a published plan version to a patient (`replaces` ends an earlier one)",
             TAG, request_schema=schemas.ASSIGNMENT_CREATE, status=201, errors=(403, 404),
             response_schema=schemas.ASSIGNMENT_OUT),
    Endpoint("GET", "/v1/plan-assignments/{id}", get, roles(*CLINICAL_ROLES),
             "An assignment with the exact plan snapshot it was given", TAG, errors=(404,),
             response_schema=schemas.ASSIGNMENT_DETAIL_OUT),
    Endpoint("POST", "/v1/plan-assignments/{id}/end", end, PRESCRIBERS,
             "End an assignment", TAG, errors=(404, 409), response_schema=schemas.ASSIGNMENT_OUT),
]  # fmt: skip
