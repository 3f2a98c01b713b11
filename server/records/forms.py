"""REST endpoints of custom fields, form templates and their versions, and patients' forms.

Admins define the clinic's fields and templates; every staff member may read them (to pick a
form to send). A patient's forms are clinical records: whoever has the full clinical view of the
patient (storage.care_team's `clinical_view`: admins, their treating specialists, the patient
themself) reads, fills and signs them; anyone else, another organization included, gets 404.

A signed form pushes `form.signed` (ids only) to the staff channel."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import uuid
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

from aiohttp import web

from pipelines.intake_summary import (
    FilledForm,
    IntakeSummarizer,
    LocalSummarizer,
    Question,
    summarizer,
)
from server.errors import not_found
from server.http import client_ip, iso, json_response, jsonable, path_id, read_json
from server.records import form_schemas as schemas
from server.resources import SETTINGS_KEY
from server.routing import Endpoint, roles
from server.web.paging import instant_id_page, page_response
from server.web.params import uuid_value
from server.work import Event, Work, unit_of_work
from storage import forms
from storage.care_team import ClinicalView, clinical_view
from storage.errors import Invalid
from storage.types import Channel, Role

TAG = "forms"
ADMINS = roles(Role.ADMIN)
STAFF = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST)
CLINICAL = roles(Role.ADMIN, Role.SPECIALIST, Role.PATIENT)
CLINICIANS = roles(Role.ADMIN, Role.SPECIALIST)


@functools.cache
def _summarizer(spec: str) -> IntakeSummarizer:
    """The summarizer the settings name (CADENCE_INTAKE_SUMMARIZER), built once."""
    return summarizer(spec)


def _tenant(request: web.Request) -> AbstractAsyncContextManager[Work]:
    return unit_of_work(request, Work)


def _uuid(value: Any) -> str | None:
    return None if value is None else str(value)


# --- fields and templates --------------------------------------------------------------------


def render_field(r: Mapping[str, Any]) -> dict[str, Any]:
    return {**r, "id": str(r["id"]), "created_at": iso(r["created_at"]),
            "updated_at": iso(r["updated_at"])}  # fmt: skip


def render_template(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "name": r["name"],
        "kind": r["kind"],
        "field_ids": [str(i) for i in r["field_ids"]],
        "current_version": r["current_version"],
        "created_at": iso(r["created_at"]),
        "updated_at": iso(r["updated_at"]),
    }


def render_version(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "template_id": str(r["template_id"]),
        "version": r["version"],
        "name": r["name"],
        "kind": r["kind"],
        "fields": list(r["fields"]),
        "published_by": _uuid(r["published_by"]),
        "published_at": iso(r["published_at"]),
    }


async def create_field(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.FIELD_CREATE)
    async with _tenant(request) as work:
        field = await forms.create_field(work.org_id, body, work.principal.user_id)
        await work.audit("form_field.create", "form_field", field["id"], after=field)
    return json_response(render_field(field), status=201)


async def list_fields(request: web.Request) -> web.Response:
    async with _tenant(request):
        found = await forms.list_fields()
    return json_response({"data": [render_field(f) for f in found]})


async def update_field(request: web.Request) -> web.Response:
    field_id = path_id(request, what="field")
    body = await read_json(request, schemas.FIELD_UPDATE)
    async with _tenant(request) as work:
        field = await forms.update_field(field_id, body)
        if field is None:
            raise not_found("field")
        await work.audit("form_field.update", "form_field", field_id, after=body)
    return json_response(render_field(field))


async def create_template(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.TEMPLATE_CREATE)
    field_ids = [uuid_value(i, "field_ids") for i in body.get("field_ids", [])]
    async with _tenant(request) as work:
        template = await forms.create_template(
            work.org_id, body["name"], body["kind"], field_ids, work.principal.user_id
        )
        await work.audit("form_template.create", "form_template", template["id"], after=body)
    return json_response(render_template(template), status=201)


async def list_templates(request: web.Request) -> web.Response:
    kind = request.query.get("kind")
    if kind is not None and kind not in forms.KINDS:
        raise Invalid({"kind": "must be one of " + ", ".join(forms.KINDS)})
    async with _tenant(request):
        found = await forms.list_templates(kind)
    return json_response({"data": [render_template(t) for t in found]})


async def get_template(request: web.Request) -> web.Response:
    template_id = path_id(request, what="template")
    async with _tenant(request):
        template = await forms.get_template(template_id)
    if template is None:
        raise not_found("template")
    return json_response(render_template(template))


async def update_template(request: web.Request) -> web.Response:
    template_id = path_id(request, what="template")
    body = await read_json(request, schemas.TEMPLATE_UPDATE)
    changes = dict(body)
    if "field_ids" in changes:
        changes["field_ids"] = [uuid_value(i, "field_ids") for i in changes["field_ids"]]
    async with _tenant(request) as work:
        template = await forms.update_template(template_id, changes)
        if template is None:
            raise not_found("template")
        await work.audit("form_template.update", "form_template", template_id, after=body)
    return json_response(render_template(template))


async def publish_template(request: web.Request) -> web.Response:
    """Freeze the draft into a new version (201); a draft equal to the newest version
    publishes nothing and answers that version (200)."""
    template_id = path_id(request, what="template")
    async with _tenant(request) as work:
        published = await forms.publish(work.conn, work.org_id, template_id, work.principal.user_id)
        if published is None:
            raise not_found("template")
        version, created = published
        if created:
            await work.audit(
                "form_template.publish", "form_template", template_id,
                after={"version": version["version"], "version_id": version["id"]},
            )  # fmt: skip
    return json_response(render_version(version), status=201 if created else 200)


async def list_versions(request: web.Request) -> web.Response:
    template_id = path_id(request, what="template")
    async with _tenant(request):
        if await forms.get_template(template_id) is None:
            raise not_found("template")
        found = await forms.list_versions(template_id)
    return json_response({"data": [render_version(v) for v in found]})


async def get_version(request: web.Request) -> web.Response:
    template_id = path_id(request, what="template")
    raw = request.match_info["version"]
    if not raw.isdigit() or len(raw) > 9:
        raise not_found("version")
    async with _tenant(request):
        version = await forms.get_version(template_id, int(raw))
    if version is None:
        raise not_found("version")
    return json_response(render_version(version))


# --- a patient's forms -----------------------------------------------------------------------


def render_signature(r: Mapping[str, Any]) -> dict[str, Any] | None:
    if r["status"] != "signed":
        return None
    image = r["signature_image"]
    return {
        "signer_name": r["signer_name"],
        "method": r["signature_method"],
        "image": None if image is None else base64.b64encode(image).decode(),
        "signed_at": iso(r["signed_at"]),
        "signed_by": _uuid(r["signed_by"]),
        "ip": None if r["signer_ip"] is None else str(r["signer_ip"]),
        "user_agent": r["signer_user_agent"],
    }


def render_instance_summary(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "patient_id": str(r["patient_id"]),
        "appointment_id": _uuid(r["appointment_id"]),
        "template": {
            "id": str(r["template_id"]),
            "version_id": str(r["version_id"]),
            "version": r["version"],
            "name": r["template_name"],
            "kind": r["template_kind"],
        },
        "status": r["status"],
        "created_at": iso(r["created_at"]),
        "submitted_at": iso(r["submitted_at"]),
        "signed_at": iso(r["signed_at"]),
    }


def render_instance(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **render_instance_summary(r),
        "fields": list(r["fields"]),
        "answers": dict(r["answers"]),
        "signature": render_signature(r),
        "updated_at": iso(r["updated_at"]),
    }


async def _ensure_patient(work: Work, patient_id: uuid.UUID) -> None:
    if await clinical_view(work.conn, work.principal, patient_id) is not ClinicalView.FULL:
        raise not_found("patient")


async def _form_of(work: Work, form_id: uuid.UUID) -> None:
    """404 unless the form exists and the caller has the full clinical view of its patient."""
    patient_id = await forms.instance_patient(work.conn, form_id)
    if (
        patient_id is None
        or await clinical_view(work.conn, work.principal, patient_id) is not ClinicalView.FULL
    ):
        raise not_found("form")


def signature_of(
    request: web.Request, data: Mapping[str, Any], by: uuid.UUID | None
) -> forms.Signature:
    """The signature of a request body, with where it was made from (address, user agent)."""
    image = None
    if data.get("image") is not None:
        try:
            image = base64.b64decode(data["image"], validate=True)
        except (binascii.Error, ValueError):
            raise Invalid({"signature.image": "must be base64"}) from None
    return forms.Signature(
        signer_name=data["signer_name"],
        method=data["method"],
        image=image,
        ip=client_ip(request),
        user_agent=request.headers.get("User-Agent"),
        signed_by=by,
    )


def signed_event(org_id: uuid.UUID, form: Mapping[str, Any]) -> Event:
    """`form.signed` on the staff channel: ids only (the answers stay sealed in their row)."""
    data = {
        "form_id": str(form["id"]),
        "patient_id": str(form["patient_id"]),
        "template_id": str(form["template_id"]),
        "version": form["version"],
        "appointment_id": _uuid(form["appointment_id"]),
    }
    return (Channel.org(org_id).name, "form.signed", jsonable(data))


async def create_instance(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    body = await read_json(request, schemas.INSTANCE_CREATE)
    template_id = uuid_value(body["template_id"], "template_id")
    raw_appointment = body.get("appointment_id")
    appointment_id = (
        None if raw_appointment is None else uuid_value(raw_appointment, "appointment_id")
    )
    async with _tenant(request) as work:
        await _ensure_patient(work, patient_id)
        form = await forms.create_instance(
            work.conn, work.keys, work.org_id, patient_id=patient_id, template_id=template_id,
            appointment_id=appointment_id, by=work.principal.user_id,
        )  # fmt: skip
        await work.audit(
            "form.create", "form", form["id"],
            after={"patient_id": patient_id, "version_id": form["version_id"]},
        )  # fmt: skip
    return json_response(render_instance(form), status=201)


async def list_instances(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    page = instant_id_page(request)
    async with _tenant(request) as work:
        await _ensure_patient(work, patient_id)
        found = await forms.list_for_patient(work.conn, patient_id, page.limit + 1, page.after)
    return json_response(
        page_response(found, page, render_instance_summary, lambda r: [r["created_at"], r["id"]])
    )


async def get_instance(request: web.Request) -> web.Response:
    form_id = path_id(request, what="form")
    async with _tenant(request) as work:
        await _form_of(work, form_id)
        form = await forms.get_instance(work.keys, form_id)
    assert form is not None
    return json_response(render_instance(form))


async def fill_instance(request: web.Request) -> web.Response:
    form_id = path_id(request, what="form")
    body = await read_json(request, schemas.ANSWERS)
    async with _tenant(request) as work:
        await _form_of(work, form_id)
        form = await forms.fill(work.conn, work.keys, form_id, body["answers"])
        # The answers stay sealed in their row: the audit names what was answered, not how.
        await work.audit("form.fill", "form", form_id, after={"answered": sorted(form["answers"])})
    return json_response(render_instance(form))


async def sign_instance(request: web.Request) -> web.Response:
    form_id = path_id(request, what="form")
    body = await read_json(request, schemas.SIGN)
    async with _tenant(request) as work:
        await _form_of(work, form_id)
        by = None if work.principal.role is Role.PATIENT else work.principal.user_id
        signature = signature_of(request, body["signature"], by)
        form = await forms.sign(work.conn, work.keys, form_id, signature, body.get("answers"))
        await work.audit(
            "form.sign", "form", form_id,
            after={"method": form["signature_method"], "signed_at": form["signed_at"]},
        )  # fmt: skip
        work.events.append(signed_event(work.org_id, form))
    return json_response(render_instance(form))


def filled_form(form: Mapping[str, Any]) -> FilledForm:
    return FilledForm(
        name=form["template_name"],
        questions=tuple(Question.of(f) for f in form["fields"]),
        answers=dict(form["answers"]),
        signed=form["status"] == "signed",
    )


async def instance_summary(request: web.Request) -> web.Response:
    form_id = path_id(request, what="form")
    async with _tenant(request) as work:
        await _form_of(work, form_id)
        form = await forms.get_instance(work.keys, form_id)
    assert form is not None
    filled = filled_form(form)
    chosen = _summarizer(request.app[SETTINGS_KEY].intake_summarizer)
    if isinstance(chosen, LocalSummarizer):
        summary = chosen.summarize(filled)
    else:  # another implementation may do I/O or heavy work: off the event loop
        summary = await asyncio.to_thread(chosen.summarize, filled)
    return json_response({"form_id": str(form_id), **summary.as_dict()})


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST", "/v1/form-fields", create_field, ADMINS, "Define a field of the clinic's forms",
        TAG, request_schema=schemas.FIELD_CREATE, response_schema=schemas.FIELD, status=201,
        errors=(409, 422),
    ),
    Endpoint(
        "GET", "/v1/form-fields", list_fields, STAFF, "The clinic's form fields, by key", TAG,
        response_schema=schemas.FIELDS,
    ),
    Endpoint(
        "PATCH", "/v1/form-fields/{id}", update_field, ADMINS,
        "Edit a field (not its key or type); published versions keep their copies", TAG,
        request_schema=schemas.FIELD_UPDATE, response_schema=schemas.FIELD, errors=(404, 422),
    ),
    Endpoint(
        "POST", "/v1/form-templates", create_template, ADMINS,
        "Create a form template (its draft: name, kind, fields in order)", TAG,
        request_schema=schemas.TEMPLATE_CREATE, response_schema=schemas.TEMPLATE, status=201,
        errors=(422,),
    ),
    Endpoint(
        "GET", "/v1/form-templates", list_templates, STAFF, "The clinic's form templates", TAG,
        response_schema=schemas.TEMPLATES, query={"kind": "only templates of this kind"},
        errors=(422,),
    ),
    Endpoint(
        "GET", "/v1/form-templates/{id}", get_template, STAFF, "A form template's draft", TAG,
        response_schema=schemas.TEMPLATE, errors=(404,),
    ),
    Endpoint(
        "PATCH", "/v1/form-templates/{id}", update_template, ADMINS,
        "Edit a template's draft; published versions never change", TAG,
        request_schema=schemas.TEMPLATE_UPDATE, response_schema=schemas.TEMPLATE,
        errors=(404, 422),
    ),
    Endpoint(
        "POST", "/v1/form-templates/{id}/publish", publish_template, ADMINS,
        "Publish the draft: freeze its fields into a new version (200 and the newest version "
        "when nothing changed)", TAG, response_schema=schemas.VERSION, status=201,
        existing_status=200, errors=(404, 422),
    ),
    Endpoint(
        "GET", "/v1/form-templates/{id}/versions", list_versions, STAFF,
        "A template's published versions, newest first", TAG, response_schema=schemas.VERSIONS,
        errors=(404,),
    ),
    Endpoint(
        "GET", "/v1/form-templates/{id}/versions/{version}", get_version, STAFF,
        "One published version of a template", TAG, response_schema=schemas.VERSION,
        errors=(404,),
    ),
    Endpoint(
        "POST", "/v1/patients/{id}/forms", create_instance, CLINICIANS,
        "Start a form for a patient, pinned to the template's newest published version", TAG,
        request_schema=schemas.INSTANCE_CREATE, response_schema=schemas.INSTANCE, status=201,
        errors=(404, 422),
    ),
    Endpoint(
        "GET", "/v1/patients/{id}/forms", list_instances, CLINICAL,
        "A patient's forms, newest first (without answers)", TAG,
        response_schema=schemas.INSTANCES_PAGE,
        query={"limit": "page size", "cursor": "next_cursor"}, errors=(404, 422),
    ),
    Endpoint(
        "GET", "/v1/forms/{id}", get_instance, CLINICAL,
        "A form with its version's fields, its answers and its signature", TAG,
        response_schema=schemas.INSTANCE, errors=(404,),
    ),
    Endpoint(
        "PUT", "/v1/forms/{id}/answers", fill_instance, CLINICAL,
        "Replace the answers of an open form (each checked against its field)", TAG,
        request_schema=schemas.ANSWERS, response_schema=schemas.INSTANCE,
        errors=(404, 409, 422),
    ),
    Endpoint(
        "POST", "/v1/forms/{id}/sign", sign_instance, CLINICAL,
        "Sign a form (typed name or drawn PNG); its answers must be complete, and it never "
        "changes again", TAG, request_schema=schemas.SIGN, response_schema=schemas.INSTANCE,
        errors=(404, 409, 422),
    ),
    Endpoint(
        "GET", "/v1/forms/{id}/summary", instance_summary, CLINICIANS,
        "The intake summary of a form: red flags, high values, unanswered required questions "
        "and the key answers", TAG, response_schema=schemas.SUMMARY, errors=(404,),
    ),
]  # fmt: skip
