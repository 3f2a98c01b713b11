"""REST endpoints of intake by link (ClinicFlow): staff send an appointment's intake form, the
patient answers it without an account.

`POST /v1/appointments/{id}/intake` (admins, receptionists, and specialists who treat the
patient) opens a form for the appointment, issues a single-purpose token (only its SHA-256 is
kept; it expires, 7 days unless asked otherwise, within 1 to 30), queues the patient's
`intake_request` message with the link (sealed in the outbox, erased once sent) and moves the
appointment's intake status `not_sent -> sent`. The public routes answer exactly: an unknown
(or replaced) token 404, an expired one 410, one already submitted 409, answers that do not fit
the form 422 with a message per field. A submission moves the status to `completed`.

Each move pushes `appointment.intake` {appointment_id, status} to the staff channel; a form
signed on submission also pushes `form.signed`. Ids only: no answer ever sits in an event."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp import web

from server.errors import not_found
from server.http import (
    audit_actor,
    iso,
    json_response,
    jsonable,
    path_id,
    read_json,
    validate,
)
from server.records import form_schemas as schemas
from server.records.forms import signature_of, signed_event
from server.resources import DB_KEY, SETTINGS_KEY
from server.routing import Endpoint, RateLimit, public, roles
from server.web.db_errors import db_errors
from server.web.params import uuid_value
from server.work import Event, Work, publish, unit_of_work
from storage import audit, forms
from storage.care_team import ClinicalView, clinical_view
from storage.types import Channel, Role

TAG = "intake"
SENDERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST)
# Per client address: opening a form is cheap and may be retried; submissions are few.
PUBLIC_READ = public(RateLimit(limit=60, window_s=60))
PUBLIC_SUBMIT = public(RateLimit(limit=10, window_s=60))


def _link(request: web.Request, token: str) -> str:
    """Where a patient opens the form: the web app's origin (CADENCE_PUBLIC_URL), else the
    origin the staff called the API at. The page at `<origin>/intake/<token>` reads the public
    routes."""
    base = request.app[SETTINGS_KEY].public_url or str(request.url.origin())
    return f"{base}/intake/{token}"


def render_intake(appointment_id: uuid.UUID, r: Mapping[str, Any] | None) -> dict[str, Any]:
    if r is None:
        return {
            "appointment_id": str(appointment_id), "status": forms.NOT_SENT, "form_id": None,
            "sent_at": None, "expires_at": None, "completed_at": None,
        }  # fmt: skip
    return {
        "appointment_id": str(r["appointment_id"]),
        "status": r["status"],
        "form_id": str(r["form_id"]),
        "sent_at": iso(r["sent_at"]),
        "expires_at": iso(r["expires_at"]),
        "completed_at": iso(r["completed_at"]),
    }


def _status_event(org_id: uuid.UUID, r: Mapping[str, Any]) -> Event:
    data = {"appointment_id": str(r["appointment_id"]), "status": r["status"]}
    return (Channel.org(org_id).name, "appointment.intake", jsonable(data))


async def _appointment(work: Work, appointment_id: uuid.UUID) -> dict[str, Any]:
    """The appointment, if the caller may see its patient (404 otherwise, like an unknown id)."""
    appt = await forms.appointment(work.conn, appointment_id)
    if (
        appt is None
        or await clinical_view(work.conn, work.principal, appt["patient_id"]) is ClinicalView.NONE
    ):
        raise not_found("appointment")
    return appt


async def send_intake(request: web.Request) -> web.Response:
    appointment_id = path_id(request, what="appointment")
    body = await read_json(request, schemas.INTAKE_SEND)
    template_id = uuid_value(body["template_id"], "template_id")
    ttl = timedelta(days=body.get("expires_in_days", forms.DEFAULT_TTL.days))
    async with unit_of_work(request, Work) as work:
        appt = await _appointment(work, appointment_id)
        sent = await forms.send_intake(
            work.conn, work.keys, work.org_id, appt=appt, template_id=template_id, ttl=ttl,
            by=work.principal.user_id, link_of=lambda token: _link(request, token),
        )  # fmt: skip
        await work.audit(
            "intake.send", "appointment", appointment_id,
            after={"form_id": sent.form["id"], "expires_at": sent.intake["expires_at"]},
        )  # fmt: skip
        work.events.append(_status_event(work.org_id, sent.intake))
    return json_response({**render_intake(appointment_id, sent.intake), "link": sent.link}, 201)


async def get_intake(request: web.Request) -> web.Response:
    appointment_id = path_id(request, what="appointment")
    async with unit_of_work(request, Work) as work:
        await _appointment(work, appointment_id)
        intake = await forms.get_intake(appointment_id)
    return json_response(render_intake(appointment_id, intake))


# --- public: the patient, by token ----------------------------------------------------------


@asynccontextmanager
async def _by_token(request: web.Request) -> AsyncIterator[tuple[asyncpg.Connection, uuid.UUID]]:
    """The token's organization's transaction (404 for a malformed or unknown token)."""
    token = request.match_info["token"]
    db = request.app[DB_KEY]
    async with db.anonymous() as conn:
        org = await forms.intake_organization(conn, token)
    if org is None:
        raise not_found("intake")
    async with db_errors(), db.tenant(org) as conn:
        yield conn, org


def _public_field(f: Mapping[str, Any]) -> dict[str, Any]:
    # What the patient needs to answer; the clinic's red-flag marks are not for them.
    keys = ("key", "label", "type", "options", "min", "max", "required")
    return {k: f.get(k) for k in keys}


async def open_public(request: web.Request) -> web.Response:
    keyring = request.app[SETTINGS_KEY].data_keys
    async with _by_token(request) as (conn, _):
        intake, form = await forms.open_intake(conn, keyring, request.match_info["token"])
    return json_response(
        {
            "form": {
                "id": str(form["id"]),
                "name": form["template_name"],
                "kind": form["template_kind"],
                "version": form["version"],
                "fields": [_public_field(f) for f in form["fields"]],
            },
            "clinic": {"name": intake["clinic_name"]},
            "appointment": {
                "starts_at": iso(intake["starts_at"]),
                "ends_at": iso(intake["ends_at"]),
            },
            "expires_at": iso(intake["expires_at"]),
        }
    )


async def submit_public(request: web.Request) -> web.Response:
    body = await read_json(request)
    keyring = request.app[SETTINGS_KEY].data_keys
    events: list[Event] = []
    async with _by_token(request) as (conn, org):
        # The token first: an unknown one is 404 whatever the body says.
        validate(body, schemas.PUBLIC_SUBMIT)
        raw = body.get("signature")
        signature = None if raw is None else signature_of(request, raw, None)
        intake, form = await forms.complete_intake(
            conn, keyring, request.match_info["token"], body["answers"], signature
        )
        await audit.record(
            conn, actor=audit_actor(request, None), organization_id=org, action="intake.submit",
            entity="form", entity_id=form["id"],
            after=jsonable({"appointment_id": intake["appointment_id"], "status": form["status"]}),
        )  # fmt: skip
        events.append(_status_event(org, intake))
        if form["status"] == "signed":
            events.append(signed_event(org, form))
    await publish(request, events)
    return json_response({"status": "completed", "signed": form["status"] == "signed"})


ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "POST", "/v1/appointments/{id}/intake", send_intake, SENDERS,
        "Send the appointment's intake form to the patient (a link valid `expires_in_days`, "
        "7 by default; sending again replaces the link)", TAG,
        request_schema=schemas.INTAKE_SEND, response_schema=schemas.INTAKE_SENT, status=201,
        errors=(404, 409, 422),
    ),
    Endpoint(
        "GET", "/v1/appointments/{id}/intake", get_intake, SENDERS,
        "The appointment's intake status: not_sent, sent or completed", TAG,
        response_schema=schemas.INTAKE, errors=(404,),
    ),
    Endpoint(
        "GET", "/v1/public/intake/{token}", open_public, PUBLIC_READ,
        "The intake form behind a link: its fields, the clinic's name and the appointment's "
        "time (404 unknown, 410 expired, 409 already submitted)", TAG,
        response_schema=schemas.PUBLIC_INTAKE, errors=(404, 409, 410, 429),
    ),
    Endpoint(
        "POST", "/v1/public/intake/{token}", submit_public, PUBLIC_SUBMIT,
        "Submit the intake form's answers, optionally signed (typed name or drawn PNG); 422 "
        "names each answer that does not fit", TAG, request_schema=schemas.PUBLIC_SUBMIT,
        response_schema=schemas.PUBLIC_SUBMITTED, errors=(404, 409, 410, 422, 429),
    ),
]  # fmt: skip
