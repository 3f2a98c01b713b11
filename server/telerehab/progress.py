"""REST: progress records (session completions with per-exercise logs), the post-session
questionnaire, and adherence per patient. Visibility as for assignments: the patient themself,
their specialists, the organization's admins."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from server.errors import validation_failed
from server.http import iso, json_response, path_id, read_json
from server.resources import SETTINGS_KEY
from server.routing import Endpoint, roles
from server.telerehab import schemas
from server.telerehab._access import CLINICAL_ROLES, ensure_patient_visible, read_clinical
from server.telerehab._web import (
    body_instant,
    instant_id_after,
    page_of,
    page_response,
    query_date,
    tenant,
)
from storage.telerehab import (
    Adherence,
    Completion,
    ExerciseSummary,
    SessionRecord,
    adherence,
    get_assignment,
    get_completion,
    list_completions,
    record_completion,
    record_questionnaire,
)

TAG = "progress"
CLINICAL = roles(*CLINICAL_ROLES)
MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 28


def render(c: Completion, *, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(c.id),
        "patient_id": str(c.patient_id),
        "assignment_id": str(c.assignment_id),
        "plan_version_id": str(c.plan_version_id),
        "session_index": c.session_index,
        "telerehab_session_id": (
            None if c.telerehab_session_id is None else str(c.telerehab_session_id)
        ),
        "source": c.source,
        "status": c.status,
        "started_at": iso(c.started_at),
        "completed_at": iso(c.completed_at),
        "duration_s": c.duration_s,
    }
    if detail:
        out["exercises"] = [
            {**asdict(e), "exercise_id": str(e.exercise_id), "cues": dict(e.cues)}
            for e in c.exercises
        ]
        q = c.questionnaire
        out["questionnaire"] = None if q is None else {
            "pain": q.pain, "difficulty": q.difficulty, "note": q.note,
            "created_at": iso(q.created_at),
        }  # fmt: skip
    return out


def _adherence(a: Adherence) -> dict[str, Any]:
    return {"scheduled": a.scheduled, "completed": a.completed, "credited": a.credited,
            "rate": a.rate}  # fmt: skip


async def create(request: web.Request) -> web.Response:
    assignment_id = path_id(request, what="plan assignment")
    body = await read_json(request, schemas.COMPLETION_CREATE)
    rec = SessionRecord(
        assignment_id=assignment_id,
        session_index=body["session_index"],
        started_at=body_instant(body["started_at"], "started_at"),
        completed_at=body_instant(body["completed_at"], "completed_at"),
        status=body.get("status", "completed"),
        source="manual",
        exercises=[
            ExerciseSummary(**{**item, "exercise_id": uuid.UUID(item["exercise_id"])})
            for item in body["exercises"]
        ],
    )
    async with tenant(request) as work:
        assert work.org_id is not None
        assignment = await get_assignment(assignment_id)
        await ensure_patient_visible(work.conn, work.who, assignment.patient_id)
        done = await record_completion(work.conn, rec, org_id=work.org_id, actor=work.actor)
    return json_response(render(done, detail=True), status=201)


async def list_(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    page = page_of(request, 2)
    after = instant_id_after(page)
    async with tenant(request) as work:
        await read_clinical(work.conn, work.who, work.actor, patient_id, "session_completions")
        rows = await list_completions(patient_id, limit=page.limit + 1, after=after)
    return json_response(
        page_response(rows, page, lambda c: render(c, detail=False),
                      lambda c: [c.completed_at, c.id])
    )  # fmt: skip


async def get(request: web.Request) -> web.Response:
    completion_id = path_id(request, what="session completion")
    async with tenant(request) as work:
        done = await get_completion(completion_id, request.app[SETTINGS_KEY].data_keys)
        await read_clinical(work.conn, work.who, work.actor, done.patient_id,
                            "session_completion", completion_id)  # fmt: skip
    return json_response(render(done, detail=True))


async def questionnaire(request: web.Request) -> web.Response:
    completion_id = path_id(request, what="session completion")
    body = await read_json(request, schemas.QUESTIONNAIRE)
    async with tenant(request) as work:
        assert work.org_id is not None
        done = await get_completion(completion_id)
        await ensure_patient_visible(work.conn, work.who, done.patient_id)
        answer = await record_questionnaire(
            work.conn,
            completion_id,
            pain=body["pain"],
            difficulty=body["difficulty"],
            note=body.get("note"),
            org_id=work.org_id,
            actor=work.actor,
            keys=request.app[SETTINGS_KEY].data_keys,
        )
    return json_response(
        {"completion_id": str(completion_id), "pain": answer.pain,
         "difficulty": answer.difficulty, "note": answer.note,
         "created_at": iso(answer.created_at)},
        status=201,
    )  # fmt: skip


async def adherence_(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    today = datetime.now(UTC).date()
    period_to = query_date(request, "to", today)
    period_from = query_date(request, "from", period_to - timedelta(days=DEFAULT_PERIOD_DAYS - 1))
    if period_from > period_to:
        raise validation_failed({"from": "must be on or before to"})
    if (period_to - period_from).days >= MAX_PERIOD_DAYS:
        raise validation_failed({"from": f"the period may span at most {MAX_PERIOD_DAYS} days"})
    async with tenant(request) as work:
        await read_clinical(work.conn, work.who, work.actor, patient_id, "adherence")
        total, items = await adherence(
            work.conn, patient_id, period_from=period_from, period_to=period_to
        )
    return json_response(
        {
            "patient_id": str(patient_id),
            "from": period_from.isoformat(),
            "to": period_to.isoformat(),
            **_adherence(total),
            "assignments": [
                {
                    "assignment_id": str(i.assignment_id),
                    "plan_id": str(i.plan_id),
                    "plan_version": i.plan_version,
                    **_adherence(i.adherence),
                }
                for i in items
            ],  # fmt: skip
        }
    )


ENDPOINTS = [
    Endpoint("POST", "/v1/plan-assignments/{id}/completions", create, CLINICAL,
             "Record a session done without the camera (manual), with per-exercise logs", TAG,
             request_schema=schemas.COMPLETION_CREATE, status=201, errors=(404, 409),
             response_schema=schemas.COMPLETION_OUT),
    Endpoint("GET", "/v1/patients/{id}/session-completions", list_, CLINICAL,
             "A patient's completed sessions, newest first", TAG,
             query={"limit": "page size", "cursor": "next_cursor of the previous page"},
             errors=(404,), response_schema=schemas.COMPLETION_PAGE),
    Endpoint("GET", "/v1/session-completions/{id}", get, CLINICAL,
             "One completed session with its exercise logs and questionnaire", TAG,
             errors=(404,), response_schema=schemas.COMPLETION_OUT),
    Endpoint("POST", "/v1/session-completions/{id}/questionnaire", questionnaire, CLINICAL,
             "Answer the post-session questionnaire (pain 0-10, difficulty 0-10, note)", TAG,
             request_schema=schemas.QUESTIONNAIRE, status=201, errors=(404, 409),
             response_schema=schemas.QUESTIONNAIRE_OUT),
    Endpoint("GET", "/v1/patients/{id}/adherence", adherence_, CLINICAL,
             "Sessions done vs scheduled in a period, per assignment and in total", TAG,
             query={"from": "first day (YYYY-MM-DD), default 27 days before `to`",
                    "to": "last day (YYYY-MM-DD), default today"},
             errors=(404,), response_schema=schemas.ADHERENCE_OUT),
]  # fmt: skip
