"""REST: start a guided telerehab session, read it, control it, answer its questionnaire.

A session runs in a pose worker (actors/pose/_worker.py); these handlers check who may touch it
(the patient themself, their specialists, the organization's admins: server/telerehab/_access)
and call the same facade as the WebSocket ops. Once a session has ended and its worker has
forgotten it, GET answers from the stored completion record.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from actors.pose import SessionCommands
from actors.pose.messages import SessionMeta
from pipelines.session import Action, PlannedExercise, SessionPlan
from server.errors import ApiError, not_found, validation_failed
from server.http import json_response, path_id, read_json
from server.middleware import principal
from server.resources import SETTINGS_KEY
from server.routing import Endpoint, Handler, roles
from server.services import SESSIONS_KEY
from server.sessions import schemas
from server.sessions._calls import settled
from server.telerehab._access import CLINICAL_ROLES, ensure_patient_visible, read_clinical
from server.telerehab._web import tenant
from server.telerehab.consents import WITHDRAWN_REASON, consent_required, ensure_consent
from server.telerehab.progress import render as render_completion
from server.telerehab.schemas import QUESTIONNAIRE
from storage.billing import telerehab_granted
from storage.consents import Purpose, has_consent
from storage.telerehab import (
    AssignedPlan,
    AssignmentStatus,
    completed_sessions,
    completion_for_session,
    get_assignment,
    load_assigned_plan,
    record_questionnaire,
)
from storage.types import Channel, PatientSubject

TAG = "telerehab sessions"
CLINICAL = roles(*CLINICAL_ROLES)


def _commands(request: web.Request) -> SessionCommands:
    return request.app[SESSIONS_KEY]


def session_plan(assigned: AssignedPlan, session_index: int) -> SessionPlan:
    return SessionPlan(
        tuple(
            PlannedExercise(
                position=e.position,
                exercise_id=str(e.exercise_id),
                name=e.name,
                sets=e.sets,
                reps=e.reps,
                rest_s=e.rest_s,
                kinematics=None if e.kinematics is None else e.kinematics.to_dict(),
            )
            for e in assigned.exercises(session_index)
        )
    )


async def _next_index(assigned: AssignedPlan) -> int:
    """The session after the last one done in full: the plan's sessions run in turn."""
    return await completed_sessions(assigned.assignment.id) % assigned.session_count


def render(view: Mapping[str, Any]) -> dict[str, Any]:
    """PROTOCOL.md's session answer (`id`, `patient_id`, `status`, `exercises`) and more."""
    return {
        "id": view["id"],
        "patient_id": view["patient_id"],
        "assignment_id": view["assignment_id"],
        "session_index": view["session_index"],
        "status": view["status"],
        "outcome": view.get("outcome"),
        "channel": Channel.patient(uuid.UUID(view["patient_id"])).name,
        "current": view["current"],
        "exercises": view["exercises"],
        "summary": view["summary"],
        "completion_id": view["completion_id"],
        "frames": view["frames"],
    }


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.SESSION_CREATE)
    assignment_id = uuid.UUID(body["assignment_id"])
    async with tenant(request) as work:
        assignment = await get_assignment(assignment_id)
        await ensure_patient_visible(work.conn, work.who, assignment.patient_id)
        if assignment.status is not AssignmentStatus.ACTIVE:
            raise ApiError(409, "conflict", "the plan assignment has ended")
        await ensure_consent(work.conn, assignment.patient_id, Purpose.TELEREHAB_CAMERA)
        if not await telerehab_granted(work.conn, assignment.patient_id, datetime.now(UTC)):
            raise ApiError(
                409, "plan_required",
                "this clinic offers telerehab with a service plan: the patient holds no active "
                "plan granting it",
            )  # fmt: skip
        assigned = await load_assigned_plan(assignment_id)
        index = body.get("session_index")
        if index is None:
            index = await _next_index(assigned)
        if not 0 <= index < assigned.session_count:
            raise validation_failed(
                {"session_index": f"must be 0..{assigned.session_count - 1} (the plan's sessions)"}
            )
    assert work.org_id is not None
    meta = SessionMeta(
        session_id=uuid.uuid4(),
        org_id=work.org_id,
        patient_id=assignment.patient_id,
        assignment_id=assignment_id,
        session_index=index,
        started_by=work.who.user_id,
        started_role=work.who.role.value,
    )
    outcome = await settled(_commands(request).start(meta, session_plan(assigned, index)))
    assert outcome.view is not None
    # A withdrawal committed between the check above and the start stopped the patient's
    # sessions before this one existed: look again, now that it runs.
    async with tenant(request) as work:
        withdrawn = not await has_consent(work.conn, meta.patient_id, Purpose.TELEREHAB_CAMERA)
    if withdrawn:
        await _commands(request).stop_patient(
            PatientSubject(meta.org_id, meta.patient_id), WITHDRAWN_REASON
        )
        raise consent_required(Purpose.TELEREHAB_CAMERA)
    return json_response(render(outcome.view), status=201)


async def _visible_view(
    request: web.Request, session_id: uuid.UUID, *, read: bool = False
) -> Mapping[str, Any] | None:
    """The live session if the caller may see it; None when no worker knows it (any more).
    `read`: the caller reads the session's records (audited)."""
    try:
        outcome = await settled(_commands(request).status(session_id))
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    view = outcome.view
    assert view is not None
    who = principal(request)
    if who.org_id is None or str(who.org_id) != view["organization_id"]:
        raise not_found("telerehab session")
    async with tenant(request) as work:
        patient_id = uuid.UUID(view["patient_id"])
        if read:
            await read_clinical(work.conn, work.who, work.actor, patient_id,
                                "telerehab_session", session_id)  # fmt: skip
        else:
            await ensure_patient_visible(work.conn, work.who, patient_id)
    return view


async def get(request: web.Request) -> web.Response:
    session_id = path_id(request, what="telerehab session")
    view = await _visible_view(request, session_id, read=True)
    if view is not None:
        return json_response(render(view))
    async with tenant(request) as work:
        keys = request.app[SETTINGS_KEY].data_keys
        done = await completion_for_session(session_id, keys)
        if done is None:
            raise not_found("telerehab session")
        await read_clinical(work.conn, work.who, work.actor, done.patient_id,
                            "telerehab_session", session_id)  # fmt: skip
    record = render_completion(done, detail=True)
    return json_response(
        {
            "id": str(session_id),
            "patient_id": str(done.patient_id),
            "assignment_id": str(done.assignment_id),
            "session_index": done.session_index,
            "status": "completed" if done.status == "completed" else "abandoned",
            "outcome": done.status,
            "channel": Channel.patient(done.patient_id).name,
            "completion_id": str(done.id),
            "summary": record["exercises"],
            "questionnaire": record["questionnaire"],
        }
    )


def _control(action: Action) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return await control(request, action)

    handler.__name__ = f"session_{action.value}"
    return handler


async def control(request: web.Request, action: Action) -> web.Response:
    session_id = path_id(request, what="telerehab session")
    body: dict[str, Any] = {}
    if request.can_read_body:
        body = await read_json(request, schemas.CONTROL)
    view = await _visible_view(request, session_id)
    if view is None:
        raise not_found("telerehab session")
    # _visible_view checked the caller against this organization and patient; the worker
    # checks the session against both again.
    owner = PatientSubject(uuid.UUID(view["organization_id"]), uuid.UUID(view["patient_id"]))
    outcome = await settled(
        _commands(request).control(session_id, owner, action.value, body.get("reps"))
    )
    assert outcome.view is not None
    return json_response(render(outcome.view))


async def questionnaire(request: web.Request) -> web.Response:
    session_id = path_id(request, what="telerehab session")
    body = await read_json(request, QUESTIONNAIRE)
    async with tenant(request) as work:
        assert work.org_id is not None
        done = await completion_for_session(session_id)
        if done is not None:
            await ensure_patient_visible(work.conn, work.who, done.patient_id)
            answer = await record_questionnaire(
                work.conn, done.id, pain=body["pain"], difficulty=body["difficulty"],
                note=body.get("note"), org_id=work.org_id, actor=work.actor,
                keys=request.app[SETTINGS_KEY].data_keys,
            )  # fmt: skip
    if done is None:
        # Not recorded yet: still running (409), or unknown / not the caller's (404).
        if await _visible_view(request, session_id) is None:
            raise not_found("telerehab session")
        raise ApiError(409, "session_not_finished", "answer the questionnaire once it has ended")
    return json_response(
        {"session_id": str(session_id), "completion_id": str(done.id), "pain": answer.pain,
         "difficulty": answer.difficulty, "note": answer.note},
        status=201,
    )  # fmt: skip


_BASE = "/v1/telerehab/sessions"
ENDPOINTS = [
    Endpoint("POST", _BASE, create, CLINICAL,
             "Start a guided session of an assigned plan; it then runs over the WebSocket "
             "(`pose` frames in, telerehab events out on patient:<id>). 409 `plan_required` where "
             "the clinic offers telerehab by service plan and the patient holds none granting "
             "it; 409 `consent_required` "
             "without the patient's `telerehab_camera` consent", TAG,
             request_schema=schemas.SESSION_CREATE, status=201, errors=(404, 409, 422, 503),
             response_schema=schemas.SESSION_OUT),
    Endpoint("GET", _BASE + "/{id}", get, CLINICAL,
             "A session: status, current exercise and set, per-exercise summary", TAG,
             errors=(404, 503), response_schema=schemas.SESSION_READ),
    Endpoint("POST", _BASE + "/{id}/questionnaire", questionnaire, CLINICAL,
             "Answer the post-session questionnaire (pain 0-10, difficulty 0-10, note)", TAG,
             request_schema=QUESTIONNAIRE, status=201, errors=(404, 409, 422),
             response_schema=schemas.SESSION_QUESTIONNAIRE_OUT),
    *(
        Endpoint("POST", f"{_BASE}/{{id}}/{a.value}", _control(a), CLINICAL,
                 f"Session control: {a.value} (same as the WebSocket op session.{a.value})", TAG,
                 request_schema=schemas.CONTROL, body_optional=True, errors=(404, 409, 503),
                 response_schema=schemas.SESSION_OUT)
        for a in Action
    ),
]  # fmt: skip
