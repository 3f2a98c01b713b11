"""REST endpoints of a patient's attachments (files on the record: referral letters, scans,
photos).

Who may: attachments are clinical records, so the patient's clinical viewers
(storage.care_team's `clinical_view` FULL): admins, a specialist who treats the patient, and the
patient themself, who may upload to and read their own record. Receptionists may not (403, by
role): the clinic's administrative papers are not kept here. Deleting is for staff (admins and
the patient's specialists). A patient outside the caller's view, and an attachment of such a
patient or of another organization, answers 404, so ids cannot be probed. Reads are audited
with the patient they concern.

An upload is checked on its bytes (storage.attachments: the kind from the magic number must be
allowed and agree with the name's extension; 422 otherwise; 413 past the size limit), stored in
object storage first, then recorded in one transaction: when object storage cannot be reached
the answer is 503 and no row exists. `attachment.created` / `attachment.deleted` go to the staff
channel after the commit, with ids only (the file name is sealed at rest; events sit in Redis
in clear).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from server.errors import not_found
from server.http import iso, json_response, path_id
from server.records import attachment_schemas as schemas
from server.records.attachment_upload import read_upload
from server.resources import BLOBS_KEY, SETTINGS_KEY
from server.routing import Endpoint, roles
from server.web.paging import instant_id_page, page_response
from server.work import Work, unit_of_work
from storage import attachments as store
from storage import audit
from storage.care_team import ClinicalView, clinical_view
from storage.types import Channel, Role

TAG = "attachments"
READERS = roles(Role.ADMIN, Role.SPECIALIST, Role.PATIENT)
DELETERS = roles(Role.ADMIN, Role.SPECIALIST)
LINK_TTL_S = 300


class _Work(Work):
    @property
    def actor_of_row(self) -> store.Actor:
        return store.Actor(self.principal.user_id, self.principal.role.value)

    async def ensure_patient(self, patient_id: uuid.UUID) -> None:
        if await clinical_view(self.conn, self.principal, patient_id) is not ClinicalView.FULL:
            raise not_found("patient")

    async def attachment(self, attachment_id: uuid.UUID) -> dict[str, Any]:
        """The live attachment, if the caller may see its patient (404 otherwise)."""
        row = await store.get(self.keys, attachment_id)
        if (
            row is None
            or await clinical_view(self.conn, self.principal, row["patient_id"])
            is not ClinicalView.FULL
        ):
            raise not_found("attachment")
        return row

    async def audit_read(self, patient_id: uuid.UUID, entity: str, entity_id: object) -> None:
        await audit.record_read(
            self.conn,
            actor=self.actor,
            organization_id=self.org_id,
            patient_id=patient_id,
            entity=entity,
            entity_id=entity_id,
        )

    def emit_staff(self, event_type: str, row: Mapping[str, Any]) -> None:
        self.emit(
            Channel.org(self.org_id),
            event_type,
            {"attachment_id": str(row["id"]), "patient_id": str(row["patient_id"])},
        )


def _tenant(request: web.Request) -> AbstractAsyncContextManager[_Work]:
    return unit_of_work(request, _Work)


def render(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "patient_id": str(r["patient_id"]),
        "filename": r["filename"],
        "content_type": r["content_type"],
        "size": int(r["size"]),
        "sha256": r["sha256"],
        "uploaded_by": None if r["uploaded_by"] is None else str(r["uploaded_by"]),
        "uploaded_by_role": r["uploaded_by_role"],
        "created_at": iso(r["created_at"]),
    }


def _facts(r: Mapping[str, Any]) -> dict[str, Any]:
    """What an audit row says of an attachment: never its name (it may identify the patient)."""
    return {
        "patient_id": str(r["patient_id"]),
        "sha256": r["sha256"],
        "size": int(r["size"]),
        "content_type": r["content_type"],
    }


async def upload(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    # Who may write to this record is settled before the body is looked at.
    async with _tenant(request) as work:
        await work.ensure_patient(patient_id)
    uploaded = await read_upload(request, request.app[SETTINGS_KEY].attachment_max_bytes)
    filename = store.checked_filename(uploaded.filename)
    kind = store.checked_kind(uploaded.data, filename)
    # The bytes first: a failure here (503) leaves no row naming bytes that are not stored.
    blob = await request.app[BLOBS_KEY].put(uploaded.data, kind.content_type)
    async with _tenant(request) as work:
        await work.ensure_patient(patient_id)
        row = await store.create(
            work.keys, work.org_id, patient_id, blob, filename, work.actor_of_row
        )
        await work.audit("attachment.create", "attachment", row["id"], after=_facts(row))
        work.emit_staff("attachment.created", row)
    return json_response(render(row), status=201)


async def list_attachments(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    page = instant_id_page(request)
    async with _tenant(request) as work:
        await work.ensure_patient(patient_id)
        found = await store.list_for_patient(work.keys, patient_id, page.limit + 1, page.after)
        await work.audit_read(patient_id, "patient_attachments", patient_id)
    return json_response(page_response(found, page, render, lambda r: [r["created_at"], r["id"]]))


async def get_attachment(request: web.Request) -> web.Response:
    attachment_id = path_id(request, what="attachment")
    async with _tenant(request) as work:
        row = await work.attachment(attachment_id)
        await work.audit_read(row["patient_id"], "attachment", attachment_id)
    link = await request.app[BLOBS_KEY].link(
        row["blob_key"],
        ttl_s=LINK_TTL_S,
        filename=row["filename"] or "attachment",
        content_type=row["content_type"],
    )
    return json_response(
        {**render(row), "link": {"url": link.url, "expires_at": iso(link.expires_at)}}
    )


async def delete_attachment(request: web.Request) -> web.Response:
    attachment_id = path_id(request, what="attachment")
    async with _tenant(request) as work:
        await work.attachment(attachment_id)
        row = await store.delete(work.keys, attachment_id, work.actor_of_row)
        if row is None:  # deleted meanwhile by someone else
            raise not_found("attachment")
        await work.audit(
            "attachment.delete",
            "attachment",
            attachment_id,
            before={"deleted_at": None},
            after={"deleted_at": row["deleted_at"], **_facts(row)},
        )
        work.emit_staff("attachment.deleted", row)
    return web.Response(status=204)


_PAGING = {"limit": "page size", "cursor": "next_cursor"}
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST",
        "/v1/patients/{id}/attachments",
        upload,
        READERS,
        "Attach a file (PDF, PNG, JPEG, WebP, HEIC) to a patient's record: the raw bytes with "
        "?filename=, or a multipart/form-data body with one file part",
        TAG,
        response_schema=schemas.ATTACHMENT,
        status=201,
        query={"filename": "the file's name (raw uploads), whose extension must match its bytes"},
        errors=(404, 413, 422, 503),
        raw_body=True,
    ),
    Endpoint(
        "GET",
        "/v1/patients/{id}/attachments",
        list_attachments,
        READERS,
        "A patient's attachments, newest first",
        TAG,
        response_schema=schemas.ATTACHMENTS_PAGE,
        query=_PAGING,
        errors=(404, 422),
    ),
    Endpoint(
        "GET",
        "/v1/attachments/{id}",
        get_attachment,
        READERS,
        f"An attachment with a download link valid for {LINK_TTL_S} seconds",
        TAG,
        response_schema=schemas.ATTACHMENT_WITH_LINK,
        errors=(404, 503),
    ),
    Endpoint(
        "DELETE",
        "/v1/attachments/{id}",
        delete_attachment,
        DELETERS,
        "Delete an attachment (the record keeps who deleted it and when, and an audit row)",
        TAG,
        status=204,
        errors=(404,),
    ),
]
