"""REST endpoints of the records' documents: a PDF of a telerehab session, of an appointment,
of a plan version's home programme, or of a signed form, answered as a short-lived link to the
PDF in object storage (`GET .../document`), and the clinic's letterhead they print.

Who may: the patient's clinical viewers (storage.care_team's `clinical_view` FULL: admins, a
specialist who treats the patient) and the patient themself, for documents about them; anyone
else gets 404, like an unknown id, so ids cannot be probed. Receptionists may not (403, by role):
these are clinical records. A handout of a plan that is not one patient's is the clinic's
material: admins and specialists may print it, a patient when the version was assigned to them.
The patient's copy of an appointment summary leaves out the care team's notes. Reads of a
patient's document are audited with the patient.

A document is rendered once per inputs: the digest of everything it prints finds the PDF already
rendered (`documents` rows); otherwise the renderer (actors/documents, worker processes) makes
it, object storage keeps it under its content key, and its row is recorded (the flow is
server/records/rendering.py, shared with the demo seed). No transaction is held while a PDF
renders. A full renderer answers 503 with Retry-After, as does object storage that cannot be
reached (nothing is recorded then).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from actors.documents import RendererBusy
from server.errors import ApiError, not_found
from server.http import iso, json_response, path_id, read_json
from server.records.rendering import PDF, prepare, record_rendered, render_and_store
from server.resources import BLOBS_KEY
from server.routing import Endpoint, roles
from server.services import DOCUMENTS_KEY
from server.work import Work, unit_of_work
from storage import audit, billing
from storage import documents as store
from storage.care_team import ClinicalView, clinical_view
from storage.types import Role

TAG = "documents"
READERS = roles(Role.ADMIN, Role.SPECIALIST, Role.PATIENT)
ADMINS = roles(Role.ADMIN)
LINK_TTL_S = 300

_UUID = {"type": "string", "format": "uuid"}
DOCUMENT_LINK = {
    "type": "object",
    "properties": {
        "url": {"type": "string"},
        "expires_at": {"type": "string", "format": "date-time"},
        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "content_type": {"const": PDF},
    },
    "required": ["url", "expires_at", "sha256", "content_type"],
    "additionalProperties": False,
}
_TEXT_OR_NULL = {"type": ["string", "null"]}
LETTERHEAD_IN = {
    "type": "object",
    "properties": {
        name: {"anyOf": [{"type": "string", "maxLength": limit}, {"type": "null"}]}
        for name, limit in store.LIMITS.items()
    },
    "additionalProperties": False,
}
LETTERHEAD = {
    "type": "object",
    "properties": {
        **{name: _TEXT_OR_NULL for name in store.LIMITS},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "required": [*store.LIMITS, "updated_at"],
    "additionalProperties": False,
}

Load = Callable[[Work], Awaitable[store.Subject]]


async def _visible(work: Work, patient_id: uuid.UUID) -> bool:
    return await clinical_view(work.conn, work.principal, patient_id) is ClinicalView.FULL


async def _document(request: web.Request, load: Load) -> web.Response:
    """The link to the document `load` reads (rendered and stored first when new)."""
    renderer, blobs = request.app[DOCUMENTS_KEY], request.app[BLOBS_KEY]
    async with unit_of_work(request, Work) as work:
        subject = await load(work)
        kind = subject.body.KIND
        if subject.patient_id is not None:
            await audit.record_read(
                work.conn,
                actor=work.actor,
                organization_id=work.org_id,
                patient_id=subject.patient_id,
                entity=kind.value,
                entity_id=subject.subject_id,
            )
        prepared = await prepare(work.org_id, subject)
    stored = prepared.stored
    if stored is None:
        try:
            blob = await render_and_store(renderer, blobs, prepared.document)
        except RendererBusy as busy:
            raise ApiError(
                503, "unavailable", busy.message,
                {"retry_after_s": busy.retry_after_s},
                {"Retry-After": str(busy.retry_after_s)},
            ) from None  # fmt: skip
        async with unit_of_work(request, Work) as work:
            stored = await record_rendered(
                work.conn, org_id=work.org_id, actor=work.actor, prepared=prepared, blob=blob
            )
    day = subject.body.as_of.date().isoformat()
    link = await blobs.link(
        stored.blob_key,
        ttl_s=LINK_TTL_S,
        filename=f"{kind.value.replace('_', '-')}-{day}.pdf",
        content_type=PDF,
    )
    return json_response(
        {
            "url": link.url,
            "expires_at": iso(link.expires_at),
            "sha256": stored.sha256,
            "content_type": PDF,
        }
    )


async def session_report(request: web.Request) -> web.Response:
    completion_id = path_id(request, what="session completion")

    async def load(work: Work) -> store.Subject:
        subject = await store.session_report(work.conn, work.keys, completion_id)
        if subject.patient_id is None or not await _visible(work, subject.patient_id):
            raise not_found("session completion")
        return subject

    return await _document(request, load)


async def appointment_summary(request: web.Request) -> web.Response:
    appointment_id = path_id(request, what="appointment")

    async def load(work: Work) -> store.Subject:
        with_notes = work.principal.role is not Role.PATIENT
        subject = await store.appointment_summary(
            work.conn, work.keys, appointment_id, with_notes=with_notes
        )
        if subject.patient_id is None or not await _visible(work, subject.patient_id):
            raise not_found("appointment")
        return subject

    return await _document(request, load)


def _version(request: web.Request) -> int:
    raw = request.match_info["version"]
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise not_found("plan version")
    return int(raw)


async def handout(request: web.Request) -> web.Response:
    plan_id = path_id(request, what="treatment plan")
    version = _version(request)

    async def load(work: Work) -> store.Subject:
        subject = await store.handout(plan_id, version)
        who = work.principal
        if subject.patient_id is not None:
            allowed = await _visible(work, subject.patient_id)
        elif who.role in (Role.ADMIN, Role.SPECIALIST):
            allowed = True
        else:
            allowed = who.patient_id is not None and await store.assigned_version(
                who.patient_id, subject.subject_id
            )
        if not allowed:
            raise not_found("plan version")
        return subject

    return await _document(request, load)


async def signed_form(request: web.Request) -> web.Response:
    instance_id = path_id(request, what="form")

    async def load(work: Work) -> store.Subject:
        # Authorized before the signed state is told: a form the caller may not see is 404,
        # whether signed or not.
        patient_id = await store.form_patient(work.conn, instance_id)
        if patient_id is None or not await _visible(work, patient_id):
            raise not_found("form")
        return await store.signed_form(work.keys, instance_id)

    return await _document(request, load)


async def invoice(request: web.Request) -> web.Response:
    invoice_id = path_id(request, what="invoice")

    async def load(work: Work) -> store.Subject:
        # Admins print any invoice of their clinic; a patient their own (others are 404).
        who = work.principal
        own = (who.patient_id or uuid.UUID(int=0)) if who.role is Role.PATIENT else None
        return await billing.invoice_document(invoice_id, patient_id=own)

    return await _document(request, load)


def _letterhead(row: dict[str, Any] | None) -> dict[str, Any]:
    row = row or {}
    return {
        **{name: row.get(name) for name in store.LIMITS},
        "updated_at": iso(row.get("updated_at")),
    }


async def get_letterhead(request: web.Request) -> web.Response:
    async with unit_of_work(request, Work):
        row = await store.get_letterhead()
    return json_response(_letterhead(row))


async def put_letterhead(request: web.Request) -> web.Response:
    body = await read_json(request, LETTERHEAD_IN)
    async with unit_of_work(request, Work) as work:
        before = await store.get_letterhead()
        row = await store.put_letterhead(work.conn, body, work.principal.user_id)
        await work.audit(
            "document_letterhead.update",
            "document_letterhead",
            work.org_id,
            before=None if before is None else {k: before[k] for k in store.LIMITS},
            after={k: row[k] for k in store.LIMITS},
        )
    return json_response(_letterhead(row))


_LINK = f"A short-lived link (valid {LINK_TTL_S} s) to the PDF"
ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/v1/session-completions/{id}/document", session_report, READERS,
             f"Telerehab session report: exercises, reps, range of motion over past sessions "
             f"and the questionnaire. {_LINK}", TAG,
             response_schema=DOCUMENT_LINK, errors=(404, 503)),
    Endpoint("GET", "/v1/appointments/{id}/summary/document", appointment_summary, READERS,
             f"Appointment summary, with the notes shared with the care team (not in the "
             f"patient's copy). {_LINK}", TAG,
             response_schema=DOCUMENT_LINK, errors=(404, 503)),
    Endpoint("GET", "/v1/treatment-plans/{id}/versions/{version}/handout/document", handout,
             READERS, f"Home programme handout of a published plan version. {_LINK}", TAG,
             response_schema=DOCUMENT_LINK, errors=(404, 409, 503)),
    Endpoint("GET", "/v1/forms/{id}/document", signed_form, READERS,
             f"A signed form: answers and signature (409 when not signed). {_LINK}", TAG,
             response_schema=DOCUMENT_LINK, errors=(404, 409, 503)),
    Endpoint("GET", "/v1/invoices/{id}/document", invoice, roles(Role.ADMIN, Role.PATIENT),
             f"An issued invoice or credit note (409 `not_issued` for a draft). {_LINK}", TAG,
             response_schema=DOCUMENT_LINK, errors=(404, 409, 503)),
    Endpoint("GET", "/v1/documents/letterhead", get_letterhead, ADMINS,
             "The clinic's letterhead on its documents (nulls: not set)", TAG,
             response_schema=LETTERHEAD),
    Endpoint("PUT", "/v1/documents/letterhead", put_letterhead, ADMINS,
             "Set the letterhead: clinic name (else the organization's), address, phone, footer "
             "text; a field left out or null is cleared", TAG,
             request_schema=LETTERHEAD_IN, response_schema=LETTERHEAD, errors=(422,)),
]  # fmt: skip
