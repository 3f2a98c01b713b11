"""REST: treatment plans in three scopes, their drafts, publishing, and clone/promote.

Admins and specialists manage their organization's and their patients' custom plans and read the
global ones; a superadmin manages global plans (platform path) and may promote an organization's
plan to global. A published version is immutable: saving a draft after a publish starts a new
version, and every assignment keeps the snapshot it was given.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from server.errors import ApiError, validation_failed
from server.http import iso, json_response, jsonable, path_id, read_json
from server.middleware import principal
from server.routing import Endpoint, roles
from server.telerehab import schemas
from server.telerehab._access import ensure_patient_visible, ensure_prescriber, read_clinical
from server.telerehab._web import (
    Work,
    acts_globally,
    cursor_uuid,
    language,
    page_of,
    page_response,
    reader,
    writer,
)
from storage.telerehab import (
    NotFound,
    Plan,
    PlanVersion,
    Scope,
    clone_plan,
    create_plan,
    delete_plan,
    get_plan,
    get_version,
    list_plans,
    list_versions,
    publish,
    save_draft,
    update_plan,
)
from storage.types import Role

PLANNERS = roles(Role.SUPERADMIN, Role.ADMIN, Role.SPECIALIST)
TAG = "treatment plans"


def render_plan(plan: Plan, versions: list[PlanVersion] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(plan.id),
        "scope": plan.scope.value,
        "patient_id": None if plan.patient_id is None else str(plan.patient_id),
        "name": plan.name,
        "description": plan.description,
        "plan_type": plan.plan_type,
        "source_plan_id": None if plan.source_plan_id is None else str(plan.source_plan_id),
        "source_version": plan.source_version,
        "created_at": iso(plan.created_at),
        "updated_at": iso(plan.updated_at),
    }
    if versions is not None:
        out["versions"] = [
            {"version": v.version, "status": v.status.value, "published_at": iso(v.published_at),
             "snapshot_digest": v.snapshot_digest}
            for v in versions
        ]  # fmt: skip
        published = [v.version for v in versions if v.status.value == "published"]
        drafts = [v for v in versions if v.status.value == "draft"]
        out["published_version"] = published[-1] if published else None
        out["draft"] = render_version(drafts[0]) if drafts else None
    return out


def render_version(v: PlanVersion) -> dict[str, Any]:
    return {
        "id": str(v.id),
        "plan_id": str(v.plan_id),
        "version": v.version,
        "status": v.status.value,
        "content": jsonable(v.content),
        "snapshot": None if v.snapshot is None else jsonable(v.snapshot),
        "snapshot_digest": v.snapshot_digest,
        "created_at": iso(v.created_at),
        "published_at": iso(v.published_at),
    }


async def _visible_plan(work: Work, plan_id: uuid.UUID) -> Plan:
    """The plan, if the caller may see it: a custom plan only through its patient."""
    plan = await get_plan(plan_id)
    if plan.patient_id is not None:
        try:
            await ensure_patient_visible(work.conn, work.who, plan.patient_id)
        except ApiError:
            raise NotFound("treatment plan") from None
    return plan


async def _is_global(request: web.Request, plan_id: uuid.UUID) -> bool:
    """Whether a write of this plan goes to the platform path (global plan, superadmin)."""
    async with reader(request) as work:
        plan = await _visible_plan(work, plan_id)
    return plan.scope is Scope.GLOBAL and acts_globally(work.who)


async def list_(request: web.Request) -> web.Response:
    page = page_of(request, 2)
    after = None if page.after is None else (str(page.after[0]), cursor_uuid(page.after[1]))
    raw_scope = request.query.get("scope") or None
    if raw_scope not in (None, *(s.value for s in Scope)):
        raise validation_failed({"scope": "must be global, organization or custom"})
    raw_patient = request.query.get("patient_id") or None
    try:
        patient_id = None if raw_patient is None else uuid.UUID(raw_patient)
    except ValueError:
        raise validation_failed({"patient_id": "must be a UUID"}) from None
    if raw_scope == "custom" and patient_id is None:
        raise validation_failed({"patient_id": "is required to list custom plans"})
    async with reader(request) as work:
        if patient_id is not None:
            await read_clinical(work.conn, work.who, work.actor, patient_id, "treatment_plans")
        rows = await list_plans(
            scope=None if raw_scope is None else Scope(raw_scope),
            patient_id=patient_id,
            limit=page.limit + 1,
            after=after,
        )
    return json_response(
        page_response(rows, page, lambda r: render_plan(r[0]), lambda r: list(r[1]))
    )


async def _may_prescribe(work: Work, body: dict[str, Any]) -> None:
    if body.get("scope") != "custom" or work.who.role is not Role.SPECIALIST:
        return
    try:
        patient_id = uuid.UUID(str(body.get("patient_id")))
    except ValueError:
        return  # storage answers the field
    await ensure_prescriber(work.conn, work.who, patient_id)


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.PLAN_CREATE)
    who = principal(request)
    scope = body.get("scope") or ("global" if acts_globally(who) else "organization")
    body["scope"] = scope
    # A custom plan makes the patient the specialist's (as assigning does), so it needs the same
    # basis as assigning; storage refuses an unknown patient field by field.
    async with writer(request, global_scope=scope == "global") as work:
        await _may_prescribe(work, body)
        plan, draft = await create_plan(work.conn, org_id=work.org_id, data=body, actor=work.actor,
                                        specialist_id=work.who.specialist_id)  # fmt: skip
    return json_response(render_plan(plan, [draft]), status=201)


async def get(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="treatment plan")
    async with reader(request) as work:
        plan = await _visible_plan(work, plan_id)
        versions = await list_versions(plan_id)
        if plan.patient_id is not None:  # a custom plan is a clinical record of its patient
            await read_clinical(work.conn, work.who, work.actor, plan.patient_id,
                                "treatment_plan", plan.id)  # fmt: skip
    return json_response(render_plan(plan, versions))


async def patch(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="treatment plan")
    body = await read_json(request, schemas.PLAN_PATCH)
    async with writer(request, global_scope=await _is_global(request, plan_id)) as work:
        plan = await update_plan(work.conn, plan_id, org_id=work.org_id, changes=body,
                                 actor=work.actor)  # fmt: skip
    return json_response(render_plan(plan))


async def delete(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="treatment plan")
    async with writer(request, global_scope=await _is_global(request, plan_id)) as work:
        await delete_plan(work.conn, plan_id, org_id=work.org_id, actor=work.actor)
    return web.Response(status=204)


async def versions(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="treatment plan")
    async with reader(request) as work:
        await _visible_plan(work, plan_id)
        found = await list_versions(plan_id)
    return json_response({"data": [render_version(v) for v in found], "next_cursor": None})


async def version(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="treatment plan")
    raw = request.match_info["version"]
    if not raw.isdigit():
        raise validation_failed({"version": "must be a version number"})
    async with reader(request) as work:
        await _visible_plan(work, plan_id)
        found = await get_version(plan_id, int(raw))
    return json_response(render_version(found))


async def draft(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="treatment plan")
    body = await read_json(request, schemas.PLAN_DRAFT)
    async with writer(request, global_scope=await _is_global(request, plan_id)) as work:
        saved = await save_draft(work.conn, plan_id, org_id=work.org_id, content=body,
                                 actor=work.actor)  # fmt: skip
    return json_response(render_version(saved))


async def publish_(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="treatment plan")
    async with writer(request, global_scope=await _is_global(request, plan_id)) as work:
        lang = None if work.org_id is None else await language(request)
        published = await publish(work.conn, plan_id, org_id=work.org_id, actor=work.actor,
                                  language=lang)  # fmt: skip
    return json_response(render_version(published))


async def clone(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="treatment plan")
    body = await read_json(request, schemas.PLAN_CLONE)
    async with reader(request) as work:
        await _visible_plan(work, plan_id)  # the caller must see the source
    async with writer(request, global_scope=body["scope"] == "global") as work:
        await _may_prescribe(work, body)
        plan, first = await clone_plan(work.conn, plan_id, org_id=work.org_id, data=body,
                                       actor=work.actor,
                                       specialist_id=work.who.specialist_id)  # fmt: skip
    return json_response(render_plan(plan, [first]), status=201)


ENDPOINTS = [
    Endpoint("GET", "/v1/treatment-plans", list_, PLANNERS,
             "Plan library: global and organization plans; a patient's custom plans", TAG,
             query={"scope": "global | organization | custom", "patient_id": "custom plans of",
                    "limit": "page size", "cursor": "next_cursor of the previous page"},
                    response_schema=schemas.PLAN_PAGE),
    Endpoint("POST", "/v1/treatment-plans", create, PLANNERS,
             "Create a plan; its sessions become draft version 1", TAG,
             request_schema=schemas.PLAN_CREATE, status=201, response_schema=schemas.PLAN_OUT),
    Endpoint("GET", "/v1/treatment-plans/{id}", get, PLANNERS,
             "A plan with its versions and current draft", TAG, errors=(404,),
             response_schema=schemas.PLAN_OUT),
    Endpoint("PATCH", "/v1/treatment-plans/{id}", patch, PLANNERS, "Rename or re-describe a plan",
             TAG, request_schema=schemas.PLAN_PATCH, errors=(404,),
             response_schema=schemas.PLAN_OUT),
    Endpoint("DELETE", "/v1/treatment-plans/{id}", delete, PLANNERS,
             "Retire a plan (assignments keep their snapshots)", TAG, status=204, errors=(404,)),
    Endpoint("GET", "/v1/treatment-plans/{id}/versions", versions, PLANNERS,
             "Every version of a plan", TAG, errors=(404,),
             response_schema=schemas.PLAN_VERSIONS_OUT),
    Endpoint("GET", "/v1/treatment-plans/{id}/versions/{version}", version, PLANNERS,
             "One version: its content and, once published, its snapshot", TAG, errors=(404,),
             response_schema=schemas.PLAN_VERSION_OUT),
    Endpoint("PUT", "/v1/treatment-plans/{id}/draft", draft, PLANNERS,
             "Save the draft (a new version when the latest is published)", TAG,
             request_schema=schemas.PLAN_DRAFT, errors=(404,),
             response_schema=schemas.PLAN_VERSION_OUT),
    Endpoint("POST", "/v1/treatment-plans/{id}/publish", publish_, PLANNERS,
             "Publish the draft as an immutable snapshot", TAG, errors=(404, 409),
             response_schema=schemas.PLAN_VERSION_OUT),
    Endpoint("POST", "/v1/treatment-plans/{id}/clone", clone, PLANNERS,
             "Clone into another scope (personalize) or promote to a broader one", TAG,
             request_schema=schemas.PLAN_CLONE, status=201, errors=(404,),
             response_schema=schemas.PLAN_OUT),
]  # fmt: skip
