"""REST: a patient's consent ledger (storage/consents.py), and where consent is enforced.

Who may record, list and withdraw: the patient themself, and staff on their behalf (admins and
receptionists of the organization, specialists treating the patient); never the owner. Every
decision is a new row with who recorded it, from which IP and through which channel.

A withdrawal (or a recorded refusal) takes effect before the answer is sent:
- `telerehab_camera`: every running session of the patient is abandoned on its worker, and the
  patient's channel gets `session.abandoned {"reason": "consent_withdrawn"}`; new sessions are
  refused with 409 `consent_required` (`ensure_consent`).
- `analytics`: the ingest actors forget the cached answer, so the next batch's analytics events
  are acknowledged as `discarded` and not stored.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
from aiohttp import web

from server.errors import ApiError, not_found
from server.http import iso, json_response, path_id, read_json
from server.pool_errors import pool_errors
from server.routing import Endpoint, roles
from server.services import SESSIONS_KEY, TELEMETRY_KEY
from server.telerehab import schemas
from server.telerehab._web import Work, instant_id_after, page_of, page_response, tenant
from storage.care_team import ClinicalView, clinical_view
from storage.consents import (
    Consent,
    ConsentChannel,
    Purpose,
    current_consents,
    has_consent,
    latest_policy_version,
    list_consents,
    record_consent,
)
from storage.types import PatientSubject, Role

log = logging.getLogger("cadence.consents")
TAG = "consents"
CONSENT_ROLES = roles(Role.PATIENT, Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST)
WITHDRAWN_REASON = "consent_withdrawn"


def consent_required(purpose: Purpose) -> ApiError:
    return ApiError(
        409,
        "consent_required",
        f"the patient has not given the {purpose.value} consent",
        {"purpose": purpose.value},
    )


async def ensure_consent(conn: asyncpg.Connection, patient_id: uuid.UUID, purpose: Purpose) -> None:
    """409 `consent_required` {"purpose"} unless the patient's newest decision grants it."""
    if not await has_consent(conn, patient_id, purpose):
        raise consent_required(purpose)


def render(c: Consent) -> dict[str, Any]:
    return {
        "id": str(c.id),
        "patient_id": str(c.patient_id),
        "purpose": c.purpose.value,
        "policy_version": c.policy_version,
        "granted": c.granted,
        "recorded_by": None if c.recorded_by is None else str(c.recorded_by),
        "recorded_role": c.recorded_role,
        "channel": c.channel.value,
        "ip": c.ip,
        "recorded_at": iso(c.recorded_at),
    }


async def _ensure_may_act(work: Work, patient_id: uuid.UUID) -> None:
    """The patient themself or staff who may see the patient (a receptionist included: consent
    is recorded at the front desk); anyone else gets 404, like an unknown patient."""
    if await clinical_view(work.conn, work.who, patient_id) is ClinicalView.NONE:
        raise not_found("patient")


def _channel(work: Work, raw: str | None) -> ConsentChannel:
    if raw is not None:
        return ConsentChannel(raw)
    return ConsentChannel.APP if work.who.role is Role.PATIENT else ConsentChannel.FRONT_DESK


async def _take_effect(request: web.Request, work: Work, consent: Consent) -> dict[str, Any]:
    """Apply a decision that was just committed to the systems that cache or act on it."""
    effects: dict[str, Any] = {}
    with pool_errors(
        "the consent is recorded; its effect is behind, retry the request",
        "the consent is recorded; workers are restarting, retry the request",
    ):
        assert work.org_id is not None
        patient = PatientSubject(work.org_id, consent.patient_id)
        if consent.purpose is Purpose.ANALYTICS:
            await request.app[TELEMETRY_KEY].forget_consent(patient)
        if consent.purpose is Purpose.TELEREHAB_CAMERA and not consent.granted:
            effects["sessions_stopped"] = await request.app[SESSIONS_KEY].stop_patient(
                patient, WITHDRAWN_REASON
            )
    return effects


async def _record(
    request: web.Request, patient_id: uuid.UUID, purpose: Purpose, granted: bool,
    policy_version: str | None, channel: str | None,
) -> web.Response:  # fmt: skip
    async with tenant(request) as work:
        await _ensure_may_act(work, patient_id)
        if policy_version is None:  # a withdrawal refers to the notice the grant was made under
            latest = await latest_policy_version(work.conn, patient_id, purpose)
            policy_version = latest or "none"
        consent = await record_consent(
            work.conn, patient_id=patient_id, purpose=purpose, policy_version=policy_version,
            granted=granted, channel=_channel(work, channel), actor=work.actor,
        )  # fmt: skip
    effects = await _take_effect(request, work, consent)
    return json_response({**render(consent), **effects}, status=201)


async def create(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    body = await read_json(request, schemas.CONSENT_CREATE)
    return await _record(request, patient_id, Purpose(body["purpose"]),
                         bool(body.get("granted", True)), body["policy_version"],
                         body.get("channel"))  # fmt: skip


async def withdraw(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    try:
        purpose = Purpose(request.match_info["purpose"])
    except ValueError:
        raise not_found("consent purpose") from None
    body: dict[str, Any] = {}
    if request.can_read_body:
        body = await read_json(request, schemas.CONSENT_WITHDRAW)
    return await _record(request, patient_id, purpose, False, body.get("policy_version"),
                         body.get("channel"))  # fmt: skip


async def list_(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    page = page_of(request, 2)
    after = instant_id_after(page)
    async with tenant(request) as work:
        await _ensure_may_act(work, patient_id)
        rows = await list_consents(work.conn, patient_id, limit=page.limit + 1, after=after)
        current = await current_consents(work.conn, patient_id)
    answer = page_response(rows, page, render, lambda c: [c.recorded_at, c.id])
    answer["current"] = {p.value: current.get(p, False) for p in Purpose}
    return json_response(answer)


_PATH = "/v1/patients/{id}/consents"
ENDPOINTS = [
    Endpoint("POST", _PATH, create, CONSENT_ROLES,
             "Record a consent decision (the patient, or staff on their behalf); a refusal of "
             "`telerehab_camera` stops the patient's live sessions (`sessions_stopped`)", TAG,
             request_schema=schemas.CONSENT_CREATE, status=201, errors=(404, 422, 503),
             response_schema=schemas.CONSENT_OUT),
    Endpoint("GET", _PATH, list_, CONSENT_ROLES,
             "The patient's consent ledger, newest first, and `current` (purpose -> granted)",
             TAG, query={"limit": "page size", "cursor": "next_cursor of the previous page"},
             errors=(404,), response_schema=schemas.CONSENT_PAGE),
    Endpoint("POST", _PATH + "/{purpose}/withdraw", withdraw, CONSENT_ROLES,
             "Withdraw a consent; takes effect at once (live camera sessions are abandoned "
             "with reason `consent_withdrawn`, analytics stop being stored)", TAG,
             request_schema=schemas.CONSENT_WITHDRAW, body_optional=True, status=201,
             errors=(404, 422, 503),
             response_schema=schemas.CONSENT_OUT),
]  # fmt: skip
