"""Patients: CRUD for the front desk, search by name (trigram index, accent- and
case-insensitive) or by exact e-mail or phone (keyed blind indexes: those columns are encrypted
at rest, storage/sealed.py), and the cancellation history of a patient.

Specialists see the patients they have appointments with; a patient sees only themself; the
owner sees none (no patient data for owners).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from aiohttp import web

from server.errors import not_found, validation_failed
from server.http import iso, json_response, path_id
from server.routing import Endpoint, page, roles
from server.scheduling import repository as repo
from server.scheduling import schemas
from server.scheduling._web import (
    Work,
    cursor_key,
    encode_cursor,
    page_of,
    page_response,
    unit_of_work,
)
from server.scheduling.access import FRONT_DESK, STAFF
from server.scheduling.crud import Resource
from storage import scheduling as store
from storage.scheduling import PatientScope
from storage.sealed import blind_index, open_row, seal_values
from storage.tables import Patients
from storage.types import Role

TAG = "scheduling: patients"


def render_patient(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "first_name": r["first_name"],
        "last_name": r["last_name"],
        "email": r["email"],
        "phone": r["phone"],
        "date_of_birth": r["date_of_birth"].isoformat() if r["date_of_birth"] else None,
        "guest": r["guest"],
        "consent_analytics": r["consent_analytics"],
        "consent_marketing": r["consent_marketing"],
        "consent_telerehab": r["consent_telerehab"],
        "user_id": str(r["user_id"]) if r["user_id"] else None,
        "created_at": iso(r["created_at"]),
        "updated_at": iso(r["updated_at"]),
    }


async def _columns(
    work: Work, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    values = dict(body)
    if values.get("date_of_birth"):
        born = date.fromisoformat(values["date_of_birth"])
        if born > date.today():
            raise validation_failed({"date_of_birth": "must not be in the future"})
        values["date_of_birth"] = born
    if isinstance(values.get("email"), str):
        values["email"] = values["email"].strip()
    if current is None:
        # The id is chosen here: it is part of what each sealed value is bound to.
        values["id"] = uuid.uuid4()
        values["organization_id"] = work.org_id
    row_id = values["id"] if current is None else current["id"]
    return seal_values(work.keys, "patients", row_id, work.org_id, values)


def _opened(work: Work, row: Mapping[str, Any]) -> Mapping[str, Any]:
    return open_row(work.keys, "patients", row)


PATIENTS = Resource(
    entity="patient",
    table=Patients,
    path="/v1/patients",
    tag=TAG,
    render=render_patient,
    schema=schemas.PATIENT_OUT,
    create_schema=schemas.PATIENT,
    patch_schema=schemas.PATIENT_PATCH,
    read=FRONT_DESK,
    write=FRONT_DESK,
    columns=_columns,
    view=_opened,
)


def _scope(work: Work) -> PatientScope:
    """The patients the caller may see."""
    who = work.principal
    if who.role is Role.SPECIALIST:  # the patients they treat: the clinical-access rule
        return PatientScope("treated", who.specialist_id)
    if who.role is Role.PATIENT:
        return PatientScope("self", who.patient_id)
    return PatientScope()


async def get_patient(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    async with unit_of_work(request) as work:
        row = await store.get_patient(patient_id, _scope(work))
        if row is None:
            raise not_found("patient")
        shown = _opened(work, row)
    return json_response(render_patient(shown))


async def list_patients(request: web.Request) -> web.Response:
    """All patients in creation order, or with `q` the best matches first."""
    q = request.query.get("q", "").strip()
    if len(q) > 100:
        raise validation_failed({"q": "must be at most 100 characters"})
    page = page_of(request)
    async with unit_of_work(request) as work:
        if not q:
            after = repo.creation_cursor(page)
            rows = await store.list_patients(_scope(work), page.limit + 1, after)
            opened = [_opened(work, r) for r in rows]
            return json_response(page_response(opened, page, render_patient, repo.creation_key))
        offset = 0
        if page.after is not None:
            (offset,) = cursor_key(page, 1)
            if not isinstance(offset, int) or offset < 0:
                raise validation_failed({"cursor": "is not a cursor this endpoint issued"})
        rows = await store.search_patients(
            work.conn,
            _scope(work),
            q,
            email_key=blind_index(work.keys, "patients", "email", work.org_id, q),
            phone_key=blind_index(work.keys, "patients", "phone", work.org_id, q),
            limit=page.limit + 1,
            offset=offset,
        )
        shown = [_opened(work, r) for r in rows[: page.limit]]
    more = len(rows) > page.limit
    return json_response(
        {
            "data": [render_patient(r) for r in shown],
            "next_cursor": encode_cursor([offset + len(shown)]) if more else None,
        }
    )


def render_cancellation(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "appointment_id": str(r["appointment_id"]),
        "patient_id": str(r["patient_id"]),
        "specialist_id": str(r["specialist_id"]),
        "calendar_id": str(r["calendar_id"]),
        "reason": r["reason"],
        "note": r["note"],
        "cancelled_by": str(r["cancelled_by"]) if r["cancelled_by"] else None,
        "cancelled_by_role": r["cancelled_by_role"],
        "original_start": iso(r["original_starts_at"]),
        "original_end": iso(r["original_ends_at"]),
        "created_at": iso(r["created_at"]),
    }


async def list_cancellations(request: web.Request) -> web.Response:
    """A patient's cancellations, newest first; a specialist sees those of their appointments."""
    patient_id = path_id(request, what="patient")
    page = page_of(request)
    before = repo.creation_cursor(page)
    async with unit_of_work(request) as work:
        if not await store.patient_exists(patient_id):
            raise not_found("patient")
        only = work.principal.specialist_id if work.principal.role is Role.SPECIALIST else None
        if work.principal.role is Role.SPECIALIST and only is None:
            raise not_found("patient")
        rows = await store.patient_cancellations(
            patient_id, page.limit + 1, before, specialist_id=only
        )
        opened = [open_row(work.keys, "cancellations", r) for r in rows]
    return json_response(page_response(opened, page, render_cancellation, repo.creation_key))


_READERS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST, Role.PATIENT)
_writes = [ep for ep in PATIENTS.endpoints() if ep.method in ("POST", "PATCH", "DELETE")]
ENDPOINTS = _writes + [
    Endpoint(
        "GET",
        "/v1/patients",
        list_patients,
        STAFF,
        "List or search patients (q: part of a name, or an exact e-mail or phone)",
        TAG,
        query={"q": "search text", "limit": "page size", "cursor": "next_cursor"},
        response_schema=page(schemas.PATIENT_OUT),
    ),
    Endpoint(
        "GET",
        "/v1/patients/{id}",
        get_patient,
        _READERS,
        "Get a patient",
        TAG,
        response_schema=schemas.PATIENT_OUT,
        errors=(404,),
    ),
    Endpoint(
        "GET",
        "/v1/patients/{id}/cancellations",
        list_cancellations,
        STAFF,
        "A patient's cancellation history",
        TAG,
        response_schema=page(schemas.CANCELLATION_OUT),
        query={"limit": "page size", "cursor": "next_cursor"},
        errors=(404,),
    ),
]
