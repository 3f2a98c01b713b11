"""A patient's privacy rights over REST: the export of everything held about them, streamed as
one JSON document, and their erasure (storage/privacy.py does the database side of both).

Export: the clinic's admins and the patient themself; erasure: admins only. Both run in the
caller's organization, so another clinic's patient is not found; both are audited.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from server.errors import ApiError, not_found
from server.http import audit_actor, iso, json_response, path_id
from server.identity import IDENTITY_KEY
from server.resources import DB_KEY, EVENTS_KEY, SETTINGS_KEY
from server.routing import Endpoint, roles
from server.scheduling import schemas
from server.work import member
from storage import audit, privacy
from storage.scheduling import patient_exists
from storage.types import Channel, Principal, Role

TAG = "scheduling: patients"
FORMAT = "cadence.patient-export.v1"
_CHUNK_BYTES = 64 * 1024
log = logging.getLogger("cadence.privacy")


def _subject(request: web.Request) -> tuple[Principal, uuid.UUID, uuid.UUID]:
    """(caller, their organization, the patient asked for); another patient's id is a 404."""
    patient_id = path_id(request, what="patient")
    who, org_id = member(request)
    if who.role is Role.PATIENT and who.patient_id != patient_id:
        raise not_found("patient")
    return who, org_id, patient_id


def _plain(value: Any) -> Any:
    """What orjson does not encode by itself (inet, numeric, interval, ranges...) as text."""
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_plain)


async def export_patient(request: web.Request) -> web.StreamResponse:
    """One JSON document: {"format", "organization_id", "patient_id", "exported_at", "tables":
    {table: [row, ...]}}, written as the rows are read (telemetry may be long)."""
    who, org_id, patient_id = _subject(request)
    db = request.app[DB_KEY]
    keys = request.app[SETTINGS_KEY].data_keys
    # The audit row commits before anything is sent: an export that breaks off was still made.
    async with db.tenant(org_id) as conn:
        if not await patient_exists(patient_id, deleted_too=True):
            raise not_found("patient")
        await audit.record_read(
            conn,
            actor=audit_actor(request, who),
            organization_id=org_id,
            patient_id=patient_id,
            entity="patient_export",
            entity_id=patient_id,
        )
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/json",
            "Content-Disposition": f'attachment; filename="patient-{patient_id}.json"',
            "Cache-Control": "no-store",
        }
    )
    head = {
        "format": FORMAT,
        "organization_id": org_id,
        "patient_id": patient_id,
        "exported_at": datetime.now(UTC),
    }
    async with db.tenant(org_id) as conn:
        await response.prepare(request)
        buf = bytearray(_dumps(head)[:-1] + b',"tables":{')
        tables = rows = 0  # rows: of the current table
        async for name, row in privacy.export_rows(conn, keys, org_id, patient_id):
            if row is None:  # the next table begins
                buf += (b"]," if tables else b"") + _dumps(name) + b":["
                tables, rows = tables + 1, 0
                continue
            buf += (b"," if rows else b"") + _dumps(row)
            rows += 1
            if len(buf) >= _CHUNK_BYTES:
                await response.write(bytes(buf))
                buf.clear()
        buf += b"]}}" if tables else b"}}"
        await response.write(bytes(buf))
    await response.write_eof()
    return response


async def erase_patient(request: web.Request) -> web.Response:
    """Anonymize the patient (one transaction), then close their sessions and trim the live
    streams. Repeating it answers the same and redoes the after-commit steps (a retry after a
    503 finishes what Redis could not)."""
    who, org_id, patient_id = _subject(request)
    db = request.app[DB_KEY]
    try:
        async with db.platform() as conn:
            done = await privacy.erase(
                conn,
                org_id=org_id,
                patient_id=patient_id,
                actor=audit_actor(request, who),
                seal=db.seal,
            )
    except privacy.PatientNotFound:
        raise not_found("patient") from None
    try:
        if done.user_id is not None:
            await request.app[IDENTITY_KEY].gate.remember(
                org_id, done.user_id, disabled=True, valid_after=datetime.now(UTC)
            )
        events = request.app[EVENTS_KEY]
        await events.drop(Channel.patient(patient_id).name)
        await events.forget(Channel.org(org_id).name, str(patient_id))
    except Exception as exc:  # the erasure itself is committed; the caller repeats the call
        log.error("erasure follow-up failed", extra={"error": type(exc).__name__})
        raise ApiError(
            503, "unavailable", "erased; live streams not yet trimmed, repeat the call"
        ) from None
    return json_response({"id": str(patient_id), "erased": True, "erased_at": iso(done.erased_at)})


_ERASED = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "erased": {"type": "boolean"},
        "erased_at": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "erased", "erased_at"],
}

ENDPOINTS = [
    Endpoint(
        "GET",
        "/v1/patients/{id}/export",
        export_patient,
        roles(Role.ADMIN, Role.PATIENT),
        "Everything held about a patient, as one JSON document (GDPR access and portability)",
        TAG,
        response_schema=schemas.PATIENT_EXPORT_OUT,
        errors=(404,),
    ),
    Endpoint(
        "POST",
        "/v1/patients/{id}/erase",
        erase_patient,
        roles(Role.ADMIN),
        "Erase a patient: identifying data removed everywhere, records kept anonymous; idempotent",
        TAG,
        response_schema=_ERASED,
        errors=(404, 503),
    ),
]
