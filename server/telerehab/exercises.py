"""REST: the exercise library (PROTOCOL.md `GET /v1/exercises`, `GET /v1/exercises/{id}`) and its
management. Every role reads global exercises and its organization's own; admins and specialists
write their organization's; only a superadmin writes global ones (403 `read_only` for others,
who clone a global exercise to change it)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from server.errors import validation_failed
from server.http import iso, json_response, jsonable, path_id, read_json
from server.middleware import principal
from server.routing import Endpoint, roles
from server.telerehab import schemas
from server.telerehab._web import (
    acts_globally,
    cursor_uuid,
    language,
    page_of,
    page_response,
    reader,
    tenant,
    writer,
)
from storage.telerehab import (
    Exercise,
    ExerciseFilter,
    clone_exercise,
    create_exercise,
    delete_exercise,
    get_exercise,
    list_exercises,
    update_exercise,
    vocabulary,
)
from storage.types import Role

# Every role reads the library; superadmin (no organization) is named, so it reads global rows.
READERS = roles(*Role)
WRITERS = roles(Role.SUPERADMIN, Role.ADMIN, Role.SPECIALIST)
TAG = "exercises"


def render(ex: Exercise, *, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(ex.id),
        "scope": "global" if ex.is_global else "organization",
        "slug": ex.slug,
        "name": ex.name,
        "description": ex.description,
        "category": ex.category,
        "body_region": ex.body_region,
        "equipment": list(ex.equipment),
        "difficulty": ex.difficulty,
        "tags": list(ex.tags),
        "contraindications": list(ex.contraindications),
        "video_key": ex.video_key,
        "image_key": ex.image_key,
        "tracked": ex.kinematics is not None,
        "view": None if ex.kinematics is None else ex.kinematics.get("view"),
        "language": ex.language,
    }
    if detail:
        out.update(
            instructions=list(ex.instructions),
            kinematics=None if ex.kinematics is None else dict(ex.kinematics),
            driving_angles=ex.driving_angles(),
            translations=dict(ex.translations),
            source_exercise_id=jsonable(ex.source_exercise_id),
            created_at=iso(ex.created_at),
            updated_at=iso(ex.updated_at),
        )
    return out


def _filters(request: web.Request) -> ExerciseFilter:
    q = request.query
    scope = q.get("scope") or None
    if scope not in (None, "global", "organization"):
        raise validation_failed({"scope": "must be global or organization"})
    return ExerciseFilter(
        scope=scope,
        category=q.get("category") or None,
        body_region=q.get("body_region") or None,
        difficulty=q.get("difficulty") or None,
        tag=q.get("tag") or None,
        query=(q.get("q") or None) and q["q"][:100],
        slug=q.get("slug") or None,
    )


async def list_(request: web.Request) -> web.Response:
    page = page_of(request, 2)
    after = None if page.after is None else (str(page.after[0]), cursor_uuid(page.after[1]))
    filters = _filters(request)
    async with reader(request):
        lang = await language(request)
        rows = await list_exercises(
            language=lang, filters=filters, limit=page.limit + 1, after=after
        )
    return json_response(
        page_response(rows, page, lambda r: render(r[0], detail=False), lambda r: list(r[1]))
    )


async def get(request: web.Request) -> web.Response:
    exercise_id = path_id(request, what="exercise")
    async with reader(request):
        ex = await get_exercise(exercise_id, language=await language(request))
    return json_response(render(ex, detail=True))


async def create(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.EXERCISE_CREATE)
    who = principal(request)
    scope = body.pop("scope", None) or ("global" if acts_globally(who) else "organization")
    if scope == "organization" and who.org_id is None:
        raise validation_failed({"scope": "a principal without an organization creates global"})
    async with writer(request, global_scope=scope == "global") as work:
        ex = await create_exercise(work.conn, org_id=work.org_id, data=body, actor=work.actor)
    return json_response(render(ex, detail=True), status=201)


async def _is_global(request: web.Request, exercise_id: uuid.UUID) -> bool:
    async with reader(request):
        ex = await get_exercise(exercise_id)
    return ex.is_global


async def patch(request: web.Request) -> web.Response:
    exercise_id = path_id(request, what="exercise")
    body = await read_json(request, schemas.EXERCISE_PATCH)
    is_global = await _is_global(request, exercise_id)
    async with writer(request, global_scope=is_global and acts_globally(principal(request))) as w:
        ex = await update_exercise(
            w.conn, exercise_id, org_id=w.org_id, changes=body, actor=w.actor
        )
    return json_response(render(ex, detail=True))


async def delete(request: web.Request) -> web.Response:
    exercise_id = path_id(request, what="exercise")
    is_global = await _is_global(request, exercise_id)
    async with writer(request, global_scope=is_global and acts_globally(principal(request))) as w:
        await delete_exercise(w.conn, exercise_id, org_id=w.org_id, actor=w.actor)
    return web.Response(status=204)


async def clone(request: web.Request) -> web.Response:
    exercise_id = path_id(request, what="exercise")
    async with tenant(request) as work:
        assert work.org_id is not None
        ex = await clone_exercise(
            work.conn,
            exercise_id,
            org_id=work.org_id,
            language=await language(request),
            actor=work.actor,
        )
    return json_response(render(ex, detail=True), status=201)


async def taxonomy(request: web.Request) -> web.Response:
    return json_response(vocabulary())


ENDPOINTS = [
    Endpoint("GET", "/v1/exercises", list_, READERS, "Exercise library: global and own "
             "organization's", TAG, query={
                 "scope": "global | organization", "category": "taxonomy key",
                 "body_region": "taxonomy key", "difficulty": "beginner | intermediate | advanced",
                 "tag": "tag", "q": "name contains", "slug": "slug", "lang": "language code",
                 "limit": "page size", "cursor": "next_cursor of the previous page"},
                 response_schema=schemas.EXERCISE_PAGE),
    Endpoint("GET", "/v1/exercises/{id}", get, READERS,
             "One exercise with its kinematic definition", TAG, query={"lang": "language code"},
             errors=(404,), response_schema=schemas.EXERCISE_OUT),
    Endpoint("POST", "/v1/exercises", create, WRITERS, "Create an exercise (superadmin: global)",
             TAG, request_schema=schemas.EXERCISE_CREATE, status=201, errors=(409,),
             response_schema=schemas.EXERCISE_OUT),
    Endpoint("PATCH", "/v1/exercises/{id}", patch, WRITERS, "Change an exercise", TAG,
             request_schema=schemas.EXERCISE_PATCH, errors=(404, 409),
             response_schema=schemas.EXERCISE_OUT),
    Endpoint("DELETE", "/v1/exercises/{id}", delete, WRITERS, "Retire an exercise (soft delete)",
             TAG, status=204, errors=(404,)),
    Endpoint("POST", "/v1/exercises/{id}/clone", clone, roles(Role.ADMIN, Role.SPECIALIST),
             "Copy an exercise into the organization, text in its language", TAG, status=201,
             query={"lang": "language code"}, errors=(404,), response_schema=schemas.EXERCISE_OUT),
    Endpoint("GET", "/v1/exercise-taxonomy", taxonomy, READERS,
             "Categories, body regions, equipment and difficulties", TAG,
             response_schema=schemas.TAXONOMY_OUT),
]  # fmt: skip
