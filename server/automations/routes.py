"""REST endpoints of automations and segments.

Rules and their runs are the admin's. Segments are written by admins and read by admins and
specialists; a segment's members (and their count) are the patients the caller may see anyway:
every patient for an admin, the patients they treat for a specialist (storage/care_team.py).
Members come as a JSON page, or, with `Accept: text/csv`, as the whole list in CSV (an export:
read in pages of its own short transactions, so a slow download holds no transaction open).
Another organization's ids are simply not found (404).

Rules are run by the `automations` consumer (actors/automations); `request_form` and
`add_to_waitlist` are refused with 422 `action_unavailable` until forms and the waitlist exist.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from server.automations import schemas
from server.errors import not_found
from server.http import iso, json_response, path_id, read_json
from server.routing import Endpoint, roles
from server.web.paging import instant_id_after, instant_id_page, page_of, page_response
from server.work import Work, unit_of_work
from storage import automations as store
from storage.automations import Audience, Member, Rule, Run, Segment
from storage.types import Principal, Role

TAG = "automations"
SEGMENTS_TAG = "segments"
ADMIN = roles(Role.ADMIN)
SEGMENT_READERS = roles(Role.ADMIN, Role.SPECIALIST)
CSV_PAGE = 500
CSV_MAX_ROWS = 100_000


def _tenant(request: web.Request) -> AbstractAsyncContextManager[Work]:
    return unit_of_work(request, Work)


def _audience(who: Principal) -> Audience:
    if who.role is Role.ADMIN:
        return "all"
    if who.specialist_id is None:  # a specialist token without its claim sees no patient
        raise not_found("segment")
    return who.specialist_id


# --- rendering -----------------------------------------------------------------------------


def render_segment(s: Segment) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "name": s.name,
        "description": s.description,
        "definition": s.definition,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
    }


def render_member(m: Member) -> dict[str, Any]:
    return {
        "id": str(m.id),
        "first_name": m.first_name,
        "last_name": m.last_name,
        "created_at": iso(m.created_at),
    }


def render_rule(r: Rule) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "name": r.name,
        "description": r.description,
        "trigger": r.trigger,
        "conditions": r.conditions,
        "actions": r.actions,
        "enabled": r.enabled,
        "created_at": iso(r.created_at),
        "updated_at": iso(r.updated_at),
    }


def render_run(r: Run) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "rule_id": str(r.rule_id),
        "event_id": r.event_id,
        "event_type": r.event_type,
        "patient_id": None if r.patient_id is None else str(r.patient_id),
        "status": r.status.value,
        "reason": r.reason,
        "error": r.error,
        "actions": r.actions,
        "attempts": r.attempts,
        "started_at": iso(r.started_at),
        "finished_at": iso(r.finished_at),
    }


def _rule_audit(r: Rule) -> dict[str, Any]:
    return {"name": r.name, "trigger": r.trigger, "enabled": r.enabled,
            "actions": [a["kind"] for a in r.actions]}  # fmt: skip


# --- segments ------------------------------------------------------------------------------


async def create_segment(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.NEW_SEGMENT)
    async with _tenant(request) as work:
        segment = await store.create_segment(work.org_id, body, work.principal.user_id)
        await work.audit("segment.created", "segment", segment.id,
                     after={"name": segment.name})  # fmt: skip
    return json_response(render_segment(segment), status=201)


async def list_segments(request: web.Request) -> web.Response:
    page = instant_id_page(request)
    async with _tenant(request) as work:
        _audience(work.principal)
        found = await store.list_segments(page.limit + 1, page.after)
    return json_response(page_response(found, page, render_segment, lambda s: [s.created_at, s.id]))


async def get_segment(request: web.Request) -> web.Response:
    segment_id = path_id(request, what="segment")
    async with _tenant(request) as work:
        _audience(work.principal)
        segment = await store.get_segment(segment_id)
    return json_response(render_segment(segment))


async def update_segment(request: web.Request) -> web.Response:
    segment_id = path_id(request, what="segment")
    body = await read_json(request, schemas.SEGMENT_PATCH)
    async with _tenant(request) as work:
        before = await store.get_segment(segment_id)
        segment = await store.update_segment(segment_id, body)
        await work.audit("segment.updated", "segment", segment.id,
                     before={"name": before.name}, after={"name": segment.name})  # fmt: skip
    return json_response(render_segment(segment))


async def delete_segment(request: web.Request) -> web.Response:
    segment_id = path_id(request, what="segment")
    async with _tenant(request) as work:
        await store.delete_segment(segment_id)
        await work.audit("segment.deleted", "segment", segment_id)
    return web.Response(status=204)


def _wants_csv(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return any(part.split(";")[0].strip() == "text/csv" for part in accept.split(","))


async def segment_members(request: web.Request) -> web.StreamResponse:
    segment_id = path_id(request, what="segment")
    if _wants_csv(request):
        return await _members_csv(request, segment_id)
    page = instant_id_page(request)
    now = datetime.now(UTC)
    async with _tenant(request) as work:
        audience = _audience(work.principal)
        segment = await store.get_segment(segment_id)
        found = await store.members(
            work.conn, segment.definition, now=now, audience=audience,
            limit=page.limit + 1, after=page.after,
        )  # fmt: skip
    return json_response(page_response(found, page, render_member, lambda m: [m.created_at, m.id]))


def _cell(value: str) -> str:
    """A spreadsheet reads a cell starting with = + - @ as a formula: quote it as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_rows(found: Sequence[Member]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for m in found:
        writer.writerow([m.id, _cell(m.first_name), _cell(m.last_name), iso(m.created_at)])
    return out.getvalue().encode()


async def _members_csv(request: web.Request, segment_id: uuid.UUID) -> web.StreamResponse:
    # One instant for the whole export, so the pages are of one and the same filter.
    now = datetime.now(UTC)
    page_of(request)  # a bad ?limit= is refused the same way in both forms
    async with _tenant(request) as work:
        audience = _audience(work.principal)
        segment = await store.get_segment(segment_id)
        found = await store.members(
            work.conn, segment.definition, now=now, audience=audience, limit=CSV_PAGE
        )
        await work.audit("segment.exported", "segment", segment_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="segment-{segment_id}.csv"',
        }
    )
    await response.prepare(request)
    await response.write(b"id,first_name,last_name,created_at\r\n")
    written = 0
    while found:
        await response.write(_csv_rows(found))
        written += len(found)
        if len(found) < CSV_PAGE or written >= CSV_MAX_ROWS:
            break
        after = (found[-1].created_at, found[-1].id)
        async with _tenant(request) as work:
            found = await store.members(
                work.conn, segment.definition, now=now, audience=audience, limit=CSV_PAGE,
                after=after,
            )  # fmt: skip
    await response.write_eof()
    return response


async def segment_count(request: web.Request) -> web.Response:
    segment_id = path_id(request, what="segment")
    now = datetime.now(UTC)
    async with _tenant(request) as work:
        audience = _audience(work.principal)
        segment = await store.get_segment(segment_id)
        count = await store.count_members(work.conn, segment.definition, now=now, audience=audience)
    return json_response({"segment_id": str(segment_id), "count": count, "at": iso(now)})


# --- rules ---------------------------------------------------------------------------------


async def create_rule(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.NEW_RULE)
    async with _tenant(request) as work:
        rule = await store.create_rule(work.org_id, body, work.principal.user_id)
        await work.audit("automation_rule.created", "automation_rule", rule.id,
                     after=_rule_audit(rule))  # fmt: skip
    return json_response(render_rule(rule), status=201)


async def list_rules(request: web.Request) -> web.Response:
    page = instant_id_page(request)
    async with _tenant(request):
        found = await store.list_rules(page.limit + 1, page.after)
    return json_response(page_response(found, page, render_rule, lambda r: [r.created_at, r.id]))


async def get_rule(request: web.Request) -> web.Response:
    rule_id = path_id(request, what="automation rule")
    async with _tenant(request):
        rule = await store.get_rule(rule_id)
    return json_response(render_rule(rule))


async def update_rule(request: web.Request) -> web.Response:
    rule_id = path_id(request, what="automation rule")
    body = await read_json(request, schemas.RULE_PATCH)
    async with _tenant(request) as work:
        before = await store.get_rule(rule_id)
        rule = await store.update_rule(rule_id, body)
        await work.audit("automation_rule.updated", "automation_rule", rule.id,
                     before=_rule_audit(before), after=_rule_audit(rule))  # fmt: skip
    return json_response(render_rule(rule))


async def delete_rule(request: web.Request) -> web.Response:
    rule_id = path_id(request, what="automation rule")
    async with _tenant(request) as work:
        await store.delete_rule(rule_id)
        await work.audit("automation_rule.deleted", "automation_rule", rule_id)
    return web.Response(status=204)


async def list_runs(request: web.Request) -> web.Response:
    rule_id = path_id(request, what="automation rule")
    page = page_of(request, 2)
    after = instant_id_after(page)
    async with _tenant(request) as work:
        # A deleted rule's runs stay readable: look the rule up among the deleted ones too.
        if not await store.rule_exists(rule_id):
            raise not_found("automation rule")
        found = await store.list_runs(work.conn, rule_id, limit=page.limit + 1, after=after)
    return json_response(page_response(found, page, render_run, lambda r: [r.started_at, r.id]))


_PAGING = {"limit": "page size (1-200)", "cursor": "next_cursor of the previous page"}
_ID_ERRORS = (404, 422)
ENDPOINTS: list[Endpoint] = [
    Endpoint("POST", "/v1/segments", create_segment, ADMIN, "Save a patient segment",
             SEGMENTS_TAG, request_schema=schemas.NEW_SEGMENT, response_schema=schemas.SEGMENT,
             status=201, errors=(409, 422)),
    Endpoint("GET", "/v1/segments", list_segments, SEGMENT_READERS,
             "The organization's segments, oldest first", SEGMENTS_TAG,
             response_schema=schemas.SEGMENT_PAGE, query=_PAGING, errors=(422,)),
    Endpoint("GET", "/v1/segments/{id}", get_segment, SEGMENT_READERS, "A segment",
             SEGMENTS_TAG, response_schema=schemas.SEGMENT, errors=_ID_ERRORS),
    Endpoint("PATCH", "/v1/segments/{id}", update_segment, ADMIN,
             "Rename a segment or change its definition", SEGMENTS_TAG,
             request_schema=schemas.SEGMENT_PATCH, response_schema=schemas.SEGMENT,
             errors=(404, 409, 422)),
    Endpoint("DELETE", "/v1/segments/{id}", delete_segment, ADMIN,
             "Delete a segment (409 segment_in_use while a rule uses it)", SEGMENTS_TAG,
             status=204, errors=(404, 409, 422)),
    Endpoint("GET", "/v1/segments/{id}/patients", segment_members, SEGMENT_READERS,
             "The segment's members the caller may see, in creation order; the whole list as "
             "CSV with Accept: text/csv", SEGMENTS_TAG, response_schema=schemas.MEMBER_PAGE,
             query=_PAGING, errors=_ID_ERRORS),
    Endpoint("GET", "/v1/segments/{id}/count", segment_count, SEGMENT_READERS,
             "How many patients the caller may see are in the segment now", SEGMENTS_TAG,
             response_schema=schemas.COUNT, errors=_ID_ERRORS),
    Endpoint("POST", "/v1/automations/rules", create_rule, ADMIN,
             "Create an automation rule (422 action_unavailable for request_form, "
             "add_to_waitlist)", TAG, request_schema=schemas.NEW_RULE,
             response_schema=schemas.RULE, status=201, errors=(422,)),
    Endpoint("GET", "/v1/automations/rules", list_rules, ADMIN,
             "The organization's automation rules, oldest first", TAG,
             response_schema=schemas.RULE_PAGE, query=_PAGING, errors=(422,)),
    Endpoint("GET", "/v1/automations/rules/{id}", get_rule, ADMIN, "An automation rule", TAG,
             response_schema=schemas.RULE, errors=_ID_ERRORS),
    Endpoint("PATCH", "/v1/automations/rules/{id}", update_rule, ADMIN,
             "Change an automation rule (checked again as a whole)", TAG,
             request_schema=schemas.RULE_PATCH, response_schema=schemas.RULE,
             errors=_ID_ERRORS),
    Endpoint("DELETE", "/v1/automations/rules/{id}", delete_rule, ADMIN,
             "Delete an automation rule (its runs stay readable)", TAG, status=204,
             errors=_ID_ERRORS),
    Endpoint("GET", "/v1/automations/rules/{id}/runs", list_runs, ADMIN,
             "A rule's runs with each action's outcome, oldest first", TAG,
             response_schema=schemas.RUN_PAGE, query=_PAGING, errors=_ID_ERRORS),
]  # fmt: skip
