"""REST: an admin grants or revokes a specialist's access to one patient (storage/care_team.py),
and lists who accessed the patient's clinical records (the audit's read rows).

A grant lets the specialist see the patient's records and live channel and prescribe for them,
without an appointment. Revoking it takes effect at once: REST reads the grants on every call,
and the specialist's open WebSockets are closed with 4003 (server/static/protocol.md, "Privacy
and clinical access").
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from server.errors import ApiError, not_found
from server.http import iso, json_response, path_id, read_json
from server.identity import IDENTITY_KEY
from server.identity.revocation import Revocation
from server.routing import Endpoint, roles
from server.telerehab import schemas
from server.telerehab._web import instant_id_after, page_of, page_response, tenant
from storage import care_team
from storage.care_team import Grant
from storage.telerehab import ClinicalRead, clinical_reads, patient_exists
from storage.types import Role

TAG = "care team"
ADMIN = roles(Role.ADMIN)


def render(g: Grant) -> dict[str, Any]:
    return {
        "id": str(g.id),
        "patient_id": str(g.patient_id),
        "specialist_id": str(g.specialist_id),
        "granted_by": None if g.granted_by is None else str(g.granted_by),
        "created_at": iso(g.created_at),
        "active": g.revoked_at is None,
        "revoked_at": iso(g.revoked_at),
        "revoked_by": None if g.revoked_by is None else str(g.revoked_by),
    }


async def grant(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    body = await read_json(request, schemas.CARE_TEAM_GRANT)
    specialist_id = uuid.UUID(body["specialist_id"])
    async with tenant(request) as work:
        assert work.org_id is not None
        if not await patient_exists(patient_id):
            raise not_found("patient")
        if not await care_team.specialist_exists(specialist_id):
            raise ApiError(422, "validation_failed", "request failed validation",
                           {"fields": {"specialist_id": "unknown specialist"}})  # fmt: skip
        made, created = await care_team.grant(
            work.conn,
            org_id=work.org_id,
            patient_id=patient_id,
            specialist_id=specialist_id,
            actor=work.actor,
        )
    return json_response(render(made), status=201 if created else 200)


async def revoke(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    specialist_id = path_id(request, "specialist_id", what="care-team grant")
    async with tenant(request) as work:
        assert work.org_id is not None
        user_id = await care_team.specialist_user(specialist_id)
        revoked = await care_team.revoke(work.conn, org_id=work.org_id, patient_id=patient_id,
                                         specialist_id=specialist_id, actor=work.actor)  # fmt: skip
    if revoked is None:
        raise not_found("care-team grant")
    if user_id is not None:
        # Open subscriptions were authorized with the grant: the specialist's sockets close with
        # 4003 on every process (the identity revocation feed), and a reconnect's subscriptions
        # are decided anew. REST calls are refused from now on anyway.
        feed = request.app[IDENTITY_KEY].gate.feed
        await feed.publish([Revocation(user_id, work.org_id)])
    return json_response(render(revoked))


async def list_(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    async with tenant(request):
        if not await patient_exists(patient_id):
            raise not_found("patient")
        grants = await care_team.list_grants(patient_id)
    return json_response({"data": [render(g) for g in grants], "next_cursor": None})


def _render_access(read: ClinicalRead) -> dict[str, Any]:
    return {
        "id": str(read.id),
        "actor": {
            "user_id": None if read.actor_user_id is None else str(read.actor_user_id),
            "role": read.actor_role,
        },
        "record": read.record,
        "record_id": read.record_id,
        "request_id": read.request_id,
        "ip": read.ip,
        "at": iso(read.at),
    }


async def access_log(request: web.Request) -> web.Response:
    """Who read the patient's clinical records, newest first."""
    patient_id = path_id(request, what="patient")
    page = page_of(request, 2)
    after = instant_id_after(page)
    async with tenant(request):
        if not await patient_exists(patient_id):
            raise not_found("patient")
        reads = await clinical_reads(patient_id, limit=page.limit + 1, after=after)
    return json_response(page_response(reads, page, _render_access, lambda r: [r.at, r.id]))


_PATH = "/v1/patients/{id}/care-team"
ENDPOINTS = [
    Endpoint("POST", _PATH, grant, ADMIN,
             "Grant a specialist access to the patient's clinical records without an "
             "appointment (idempotent: 200 with the active grant if there is one)", TAG,
             request_schema=schemas.CARE_TEAM_GRANT, status=201, existing_status=200,
             errors=(404, 422),
             response_schema=schemas.GRANT_OUT),
    Endpoint("GET", _PATH, list_, ADMIN,
             "The patient's care-team grants, active and revoked", TAG, errors=(404,),
             response_schema=schemas.GRANTS_OUT),
    Endpoint("DELETE", _PATH + "/{specialist_id}", revoke, ADMIN,
             "Revoke a specialist's grant for the patient", TAG, errors=(404,),
             response_schema=schemas.GRANT_OUT),
    Endpoint("GET", "/v1/patients/{id}/access-log", access_log, ADMIN,
             "Who read the patient's clinical records (plans, progress, sessions, telemetry), "
             "newest first", "audit",
             query={"limit": "page size", "cursor": "next_cursor of the previous page"},
             errors=(404,), response_schema=schemas.ACCESS_LOG_PAGE),
]  # fmt: skip
