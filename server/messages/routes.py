"""REST endpoints of messages between the clinic and a patient (Therapy CRM communications).

Who may use a patient's threads: whoever may see the patient at all (storage.care_team's
`clinical_view`): the patient themself, admins, receptionists (messages are not clinical
records), and a specialist for a patient they treat. Anyone else, a thread of another patient
or of another organization included, gets 404, so ids cannot be probed.

After the commit, `message.created` and `message.read` go to the patient's channel and to the
organization's (staff) channel. They carry ids only: the body stays sealed in Postgres (an
event lives in Redis, in clear, for the stream's retention), and subscribers fetch it.
Attachments wait for object storage (a later issue): a message is text only for now.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from server.errors import ApiError, not_found
from server.http import iso, json_response, path_id, read_json
from server.messages import schemas
from server.routing import Endpoint, roles
from server.web.paging import instant_id_page, page_response
from server.web.params import uuid_value
from server.work import Work, unit_of_work
from storage import messages as store
from storage.care_team import ClinicalView, clinical_view
from storage.types import Channel, Principal, Role

TAG = "messages"
READERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST, Role.PATIENT)


class _Work(Work):
    """The kit's unit of work, with a message's author, audit row and pushes."""

    @property
    def who(self) -> Principal:
        return self.principal

    @property
    def author(self) -> store.Author:
        return store.Author(self.principal.user_id, self.principal.role.value)

    async def audit_message(self, message: Mapping[str, Any], patient_id: uuid.UUID) -> None:
        """The audit row of a message written: ids only (the body stays sealed in its row)."""
        await self.audit(
            "message.create",
            "message",
            message["id"],
            after={"thread_id": str(message["thread_id"]), "patient_id": str(patient_id)},
        )

    def emit_both(self, patient_id: uuid.UUID, event_type: str, data: Mapping[str, Any]) -> None:
        """To the patient's channel and the staff's (the organization's)."""
        payload = {**data, "patient_id": str(patient_id)}
        self.emit(Channel.patient(patient_id), event_type, payload)
        self.emit(Channel.org(self.org_id), event_type, payload)


def _tenant(request: web.Request) -> AbstractAsyncContextManager[_Work]:
    return unit_of_work(request, _Work)


async def _ensure_patient(work: _Work, patient_id: uuid.UUID) -> None:
    if await clinical_view(work.conn, work.who, patient_id) is ClinicalView.NONE:
        raise not_found("patient")


async def _thread(work: _Work, thread_id: uuid.UUID) -> store.Thread:
    """The thread, if the caller may see its patient (404 otherwise, like an unknown id)."""
    thread = await store.get_thread(thread_id)
    if (
        thread is None
        or await clinical_view(work.conn, work.who, thread.patient_id) is ClinicalView.NONE
    ):
        raise not_found("thread")
    return thread


def _uuid(value: Any) -> str | None:
    return None if value is None else str(value)


def render_thread(r: Mapping[str, Any]) -> dict[str, Any]:
    out = {
        "id": str(r["id"]),
        "patient_id": str(r["patient_id"]),
        "subject": r["subject"],
        "state": r["state"],
        "created_by": _uuid(r["created_by"]),
        "created_by_role": r["created_by_role"],
        "created_at": iso(r["created_at"]),
        "last_message_at": iso(r["last_message_at"]),
    }
    if "unread" in r:
        out["unread"] = int(r["unread"])
    return out


def render_message(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "thread_id": str(r["thread_id"]),
        "author_user_id": _uuid(r["author_user_id"]),
        "author_role": r["author_role"],
        "body": r["body"],
        "created_at": iso(r["created_at"]),
    }


def _created(message: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "thread_id": str(message["thread_id"]),
        "message_id": str(message["id"]),
        "author_role": message["author_role"],
        "created_at": iso(message["created_at"]),
    }


async def list_threads(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    page = instant_id_page(request)
    async with _tenant(request) as work:
        await _ensure_patient(work, patient_id)
        found = await store.list_threads(
            work.conn, work.keys, patient_id, work.who.user_id, page.limit + 1, page.after
        )
    return json_response(
        page_response(found, page, render_thread, lambda r: [r["last_message_at"], r["id"]])
    )


async def create_thread(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    body = await read_json(request, schemas.NEW_THREAD)
    async with _tenant(request) as work:
        await _ensure_patient(work, patient_id)
        thread, message = await store.create_thread(
            work.keys, work.org_id, patient_id, body["subject"], body["body"], work.author
        )
        await work.audit_message(message, patient_id)
        work.emit_both(patient_id, "message.created", _created(message))
    return json_response(
        {"thread": render_thread(thread), "message": render_message(message)}, status=201
    )


async def list_messages(request: web.Request) -> web.Response:
    thread_id = path_id(request, what="thread")
    page = instant_id_page(request)
    async with _tenant(request) as work:
        await _thread(work, thread_id)
        found = await store.list_messages(work.keys, thread_id, page.limit + 1, page.after)
    return json_response(
        page_response(found, page, render_message, lambda r: [r["created_at"], r["id"]])
    )


async def post_message(request: web.Request) -> web.Response:
    thread_id = path_id(request, what="thread")
    body = await read_json(request, schemas.NEW_MESSAGE)
    async with _tenant(request) as work:
        thread = await _thread(work, thread_id)
        message = await store.add_message(work.keys, work.org_id, thread, body["body"], work.author)
        await work.audit_message(message, thread.patient_id)
        work.emit_both(thread.patient_id, "message.created", _created(message))
    return json_response(render_message(message), status=201)


async def mark_read(request: web.Request) -> web.Response:
    """The caller's read receipt: up to `message_id`, or the thread's newest message."""
    thread_id = path_id(request, what="thread")
    body = await read_json(request, schemas.READ) if request.body_exists else {}
    async with _tenant(request) as work:
        if work.who.user_id is None:
            raise ApiError(403, "forbidden", "a read receipt needs a signed-in user")
        thread = await _thread(work, thread_id)
        wanted = uuid_value(body["message_id"], "message_id") if "message_id" in body else None
        marked = await store.mark_read(work.conn, thread_id, work.who.user_id, wanted)
        if marked is None:
            raise not_found("message")
        receipt, moved = marked
        if moved:  # a receipt already at or past the message changes nothing: no push
            work.emit_both(
                thread.patient_id,
                "message.read",
                {
                    "thread_id": str(thread_id),
                    "user_id": str(receipt["user_id"]),
                    "message_id": str(receipt["last_read_message_id"]),
                    "last_read_at": iso(receipt["last_read_at"]),
                },
            )
    return json_response(
        {
            "thread_id": str(receipt["thread_id"]),
            "user_id": str(receipt["user_id"]),
            "last_read_message_id": str(receipt["last_read_message_id"]),
            "last_read_at": iso(receipt["last_read_at"]),
        }
    )


_PAGING = {"limit": "page size", "cursor": "next_cursor"}
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/v1/patients/{id}/threads",
        list_threads,
        READERS,
        "A patient's message threads, most recently active first, with the caller's unread count",
        TAG,
        response_schema=schemas.THREADS_PAGE,
        query=_PAGING,
        errors=(404, 422),
    ),
    Endpoint(
        "POST",
        "/v1/patients/{id}/threads",
        create_thread,
        READERS,
        "Start a message thread with a patient (its first message included)",
        TAG,
        request_schema=schemas.NEW_THREAD,
        response_schema=schemas.NEW_THREAD_RESPONSE,
        status=201,
        errors=(404, 422),
    ),
    Endpoint(
        "GET",
        "/v1/threads/{id}/messages",
        list_messages,
        READERS,
        "A thread's messages, oldest first",
        TAG,
        response_schema=schemas.MESSAGES_PAGE,
        query=_PAGING,
        errors=(404, 422),
    ),
    Endpoint(
        "POST",
        "/v1/threads/{id}/messages",
        post_message,
        READERS,
        "Reply in a thread",
        TAG,
        request_schema=schemas.NEW_MESSAGE,
        response_schema=schemas.MESSAGE,
        status=201,
        errors=(404, 422),
    ),
    Endpoint(
        "POST",
        "/v1/threads/{id}/read",
        mark_read,
        READERS,
        "Read receipt: the caller has read the thread up to a message (default: the newest)",
        TAG,
        request_schema=schemas.READ,
        response_schema=schemas.RECEIPT,
        errors=(403, 404, 422),
    ),
]
