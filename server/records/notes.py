"""REST endpoints of clinical notes (ClinicFlow doctor notes), on a patient or an appointment.

Who reads a note: first the caller must see the patient clinically (storage.care_team's
`clinical_view` FULL: an admin, or a specialist treating the patient); then storage.notes'
`Reader`: the author, the organization's admins, and other specialists for notes shared with
the care team. Anything else (another patient's or organization's note, a private note of
someone else, a note of a deleted or erased patient, an unknown id) is 404, so ids cannot be
probed. Receptionists, patients and owners are refused by role (403): clinical notes are not
theirs to read.

Only the author edits a note (admins neither: a note is its author's clinical statement, and
an admin rewriting it would put words under another clinician's name). Every edit is a new
version; the history keeps them all. Notes are never deleted.

After the commit, `note.created` and `note.updated` go to the staff channel (`org:<id>`) with
ids only (`id`, `patient_id`, `appointment_id`): the body stays sealed in Postgres.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from server.errors import ApiError, not_found, validation_failed
from server.http import iso, json_response, path_id, read_json
from server.records import clinical_schemas as schemas
from server.routing import Endpoint, roles
from server.web.paging import cursor_key, instant_id_page, page_of, page_response
from server.web.params import uuid_value
from server.work import Work, unit_of_work
from storage import notes as store
from storage.care_team import ClinicalView, clinical_view, patient_exists
from storage.errors import Forbidden
from storage.scheduling import find_appointment
from storage.types import Channel, Role

TAG = "records"
CLINICIANS = roles(Role.ADMIN, Role.SPECIALIST)
NOT_THE_PATIENTS = "is not an appointment of this patient"


class _Work(Work):
    @property
    def reader(self) -> store.Reader:
        return store.Reader.of(self.principal)

    @property
    def author(self) -> store.Author:
        if self.principal.user_id is None:
            raise ApiError(403, "forbidden", "a note needs a signed-in author")
        return store.Author(
            self.principal.user_id, self.principal.role.value, self.principal.specialist_id
        )

    def emit_note(self, event_type: str, note: Mapping[str, Any]) -> None:
        """Ids only: an event sits in Redis in clear for the stream's retention."""
        self.emit(
            Channel.org(self.org_id),
            event_type,
            {
                "id": note["id"],
                "patient_id": note["patient_id"],
                "appointment_id": note["appointment_id"],
            },
        )


def _tenant(request: web.Request) -> AbstractAsyncContextManager[_Work]:
    return unit_of_work(request, _Work)


async def _records_visible(work: _Work, patient_id: uuid.UUID) -> bool:
    """The caller sees the patient's clinical records, and the patient is live: a specialist's
    relation outlives a deleted (or erased) patient in `clinical_view`, their notes must not."""
    view = await clinical_view(work.conn, work.principal, patient_id)
    return view is ClinicalView.FULL and await patient_exists(patient_id)


async def _ensure_patient(work: _Work, patient_id: uuid.UUID) -> None:
    if not await _records_visible(work, patient_id):
        raise not_found("patient")


async def _appointment_patient(work: _Work, appointment_id: uuid.UUID) -> uuid.UUID:
    """The appointment's patient, if the caller may see that patient's records (404 else)."""
    appointment = await find_appointment(appointment_id)
    if appointment is None:
        raise not_found("appointment")
    await _ensure_patient(work, appointment.patient_id)
    return appointment.patient_id


async def _note(work: _Work, note_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
    """The note, if the caller may read it (404 otherwise, like an unknown id)."""
    note = await store.get_note(work.keys, note_id, lock=lock)
    if (
        note is None
        or not work.reader.sees(note)
        or not await _records_visible(work, note["patient_id"])
    ):
        raise not_found("note")
    return note


def _uuid(value: Any) -> str | None:
    return None if value is None else str(value)


def render_note(n: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(n["id"]),
        "patient_id": str(n["patient_id"]),
        "appointment_id": _uuid(n["appointment_id"]),
        "author_user_id": str(n["author_user_id"]),
        "author_role": n["author_role"],
        "author_specialist_id": _uuid(n["author_specialist_id"]),
        "author_name": n["author_name"],
        "visibility": n["visibility"],
        "version": n["version"],
        "body": n["body"],
        "created_at": iso(n["created_at"]),
        "updated_at": iso(n["updated_at"]),
    }


def render_revision(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": r["version"],
        "body": r["body"],
        "visibility": r["visibility"],
        "edited_by": str(r["edited_by"]),
        "created_at": iso(r["created_at"]),
    }


def _notes_page(found: list[dict[str, Any]], page: Any) -> web.Response:
    return json_response(
        page_response(found, page, render_note, lambda n: [n["created_at"], n["id"]])
    )


async def _create(
    work: _Work,
    patient_id: uuid.UUID,
    appointment_id: uuid.UUID | None,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    note = await store.create_note(
        work.keys,
        work.org_id,
        patient_id=patient_id,
        appointment_id=appointment_id,
        body=body["body"],
        visibility=store.Visibility(body.get("visibility", store.Visibility.PRIVATE)),
        by=work.author,
    )
    await work.audit(
        "note.create",
        "note",
        note["id"],
        after={
            "patient_id": patient_id,
            "appointment_id": appointment_id,
            "visibility": note["visibility"],
            "version": note["version"],
        },
    )
    work.emit_note("note.created", note)
    return note


async def list_patient_notes(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    page = instant_id_page(request)
    async with _tenant(request) as work:
        await _ensure_patient(work, patient_id)
        found = await store.list_notes(
            work.keys, work.reader, patient_id=patient_id, limit=page.limit + 1, after=page.after
        )
    return _notes_page(found, page)


async def create_patient_note(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    body = await read_json(request, schemas.NEW_NOTE)
    raw_appointment = body.get("appointment_id")
    appointment_id = (
        None if raw_appointment is None else uuid_value(raw_appointment, "appointment_id")
    )
    async with _tenant(request) as work:
        await _ensure_patient(work, patient_id)
        if appointment_id is not None:
            appointment = await find_appointment(appointment_id)
            if appointment is None or appointment.patient_id != patient_id:
                raise validation_failed({"appointment_id": NOT_THE_PATIENTS})
        note = await _create(work, patient_id, appointment_id, body)
    return json_response(render_note(note), status=201)


async def list_appointment_notes(request: web.Request) -> web.Response:
    appointment_id = path_id(request, what="appointment")
    page = instant_id_page(request)
    async with _tenant(request) as work:
        await _appointment_patient(work, appointment_id)
        found = await store.list_notes(
            work.keys,
            work.reader,
            appointment_id=appointment_id,
            limit=page.limit + 1,
            after=page.after,
        )
    return _notes_page(found, page)


async def create_appointment_note(request: web.Request) -> web.Response:
    appointment_id = path_id(request, what="appointment")
    body = await read_json(request, schemas.NEW_APPOINTMENT_NOTE)
    async with _tenant(request) as work:
        patient_id = await _appointment_patient(work, appointment_id)
        note = await _create(work, patient_id, appointment_id, body)
    return json_response(render_note(note), status=201)


async def get_note(request: web.Request) -> web.Response:
    note_id = path_id(request, what="note")
    async with _tenant(request) as work:
        note = await _note(work, note_id)
    return json_response(render_note(note))


async def edit_note(request: web.Request) -> web.Response:
    note_id = path_id(request, what="note")
    body = await read_json(request, schemas.EDIT_NOTE)
    visibility = body.get("visibility")
    async with _tenant(request) as work:
        note = await _note(work, note_id, lock=True)
        if not work.reader.wrote(note):
            raise Forbidden("only the note's author may edit it")
        edited, changed = await store.edit_note(
            work.keys,
            work.org_id,
            note,
            body=body.get("body"),
            visibility=None if visibility is None else store.Visibility(visibility),
            by=work.author.user_id,
            expected_version=body.get("version"),
        )
        if changed:
            await work.audit(
                "note.update",
                "note",
                note_id,
                before={"version": note["version"], "visibility": note["visibility"]},
                after={"version": edited["version"], "visibility": edited["visibility"]},
            )
            work.emit_note("note.updated", edited)
    return json_response(render_note(edited))


async def note_history(request: web.Request) -> web.Response:
    """The note's versions, oldest first; paged by version."""
    note_id = path_id(request, what="note")
    page = page_of(request, 1)
    after: int | None = None
    if page.after is not None:
        (raw,) = cursor_key(page, 1)
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
            raise validation_failed({"cursor": "is not a cursor this endpoint issued"})
        after = raw
    async with _tenant(request) as work:
        await _note(work, note_id)
        found = await store.note_history(
            work.keys, note_id, limit=page.limit + 1, after_version=after
        )
    return json_response(page_response(found, page, render_revision, lambda r: [r["version"]]))


_PAGING = {"limit": "page size", "cursor": "next_cursor"}
_NOTE = "/v1/notes/{id}"
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET",
        "/v1/patients/{id}/notes",
        list_patient_notes,
        CLINICIANS,
        "A patient's clinical notes the caller may read, oldest first",
        TAG,
        response_schema=schemas.NOTES_PAGE,
        query=_PAGING,
        errors=(404, 422),
    ),
    Endpoint(
        "POST",
        "/v1/patients/{id}/notes",
        create_patient_note,
        CLINICIANS,
        "Write a clinical note on a patient (optionally on one of their appointments)",
        TAG,
        request_schema=schemas.NEW_NOTE,
        response_schema=schemas.NOTE,
        status=201,
        errors=(403, 404, 422),
    ),
    Endpoint(
        "GET",
        "/v1/appointments/{id}/notes",
        list_appointment_notes,
        CLINICIANS,
        "An appointment's clinical notes the caller may read, oldest first",
        TAG,
        response_schema=schemas.NOTES_PAGE,
        query=_PAGING,
        errors=(404, 422),
    ),
    Endpoint(
        "POST",
        "/v1/appointments/{id}/notes",
        create_appointment_note,
        CLINICIANS,
        "Write a clinical note on an appointment",
        TAG,
        request_schema=schemas.NEW_APPOINTMENT_NOTE,
        response_schema=schemas.NOTE,
        status=201,
        errors=(403, 404, 422),
    ),
    Endpoint(
        "GET",
        _NOTE,
        get_note,
        CLINICIANS,
        "A clinical note (its current version)",
        TAG,
        response_schema=schemas.NOTE,
        errors=(404,),
    ),
    Endpoint(
        "PATCH",
        _NOTE,
        edit_note,
        CLINICIANS,
        "Edit a note's body or visibility (its author only): a new version",
        TAG,
        request_schema=schemas.EDIT_NOTE,
        response_schema=schemas.NOTE,
        errors=(403, 404, 409, 422),
    ),
    Endpoint(
        "GET",
        _NOTE + "/history",
        note_history,
        CLINICIANS,
        "Every version of a note, oldest first",
        TAG,
        response_schema=schemas.HISTORY_PAGE,
        query=_PAGING,
        errors=(404, 422),
    ),
]
