"""REST for telemetry: `POST /v1/telemetry`, a patient's GDPR export, and trends from rollups."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web

from actors.telemetry import IngestFailed, SubmitResult, TelemetryCommands
from server.errors import ApiError, not_found
from server.http import audit_actor, dumps, json_response
from server.middleware import principal
from server.pool_errors import pool_errors
from server.resources import DB_KEY
from server.routing import Endpoint, nullable, roles, shape
from server.services import TELEMETRY_KEY
from server.telerehab._access import read_clinical
from storage import telemetry as store
from storage.field_errors import type_message
from storage.types import Principal, Role

BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {
            "type": "array",
            "description": "Each event: {id (UUID chosen by the client), type, t (epoch ms or "
            "RFC 3339), session_id?, data}. Invalid events are rejected one by one.",
            "items": {},
        }
    },
}
SUBMITTERS = roles(Role.PATIENT, Role.SPECIALIST, Role.ADMIN, Role.RECEPTIONIST)
CLINICAL_READERS = roles(Role.ADMIN, Role.SPECIALIST, Role.PATIENT)


async def submit(commands: TelemetryCommands, who: Principal, body: bytes) -> SubmitResult:
    """Shared by REST and the WebSocket op (`body`: the batch as the client sent it, decoded
    once, by the ingest actor): domain failures become API errors."""
    try:
        with pool_errors(
            "telemetry ingest is behind; retry after the hint", "telemetry ingest is restarting"
        ):
            return await commands.submit(who, body)
    except IngestFailed as exc:
        if exc.code == "bad_request":
            raise ApiError(400, "bad_request", "request body is not valid JSON") from None
        if exc.code == "validation_failed":
            raise ApiError(
                422,
                "validation_failed",
                "request failed validation",
                {"fields": {"events": type_message("array")}},
            ) from None
        raise ApiError(
            503,
            "storage_unavailable",
            f"telemetry could not be stored ({exc.code})",
            {"retry_after_ms": 5000},
            {"Retry-After": "5"},
        ) from None


async def post_telemetry(request: web.Request) -> web.Response:
    # The body goes to the ingest actor as received: parsing and validating thousands of events
    # per second is work for the actor processes, not for this event loop. The published schema
    # is enforced there, per event and with reasons.
    body = await request.read()
    if not body:
        raise ApiError(400, "bad_request", "request body must be JSON")
    result = await submit(request.app[TELEMETRY_KEY], principal(request), body)
    return json_response(result.as_dict())


def _patient_scope(request: web.Request) -> tuple[Principal, uuid.UUID]:
    who = principal(request)
    try:
        patient_id = uuid.UUID(request.match_info["id"])
    except ValueError:
        raise not_found("patient") from None
    if who.role is Role.PATIENT and who.patient_id != patient_id:
        raise not_found("patient")  # another patient's id looks like no patient at all
    return who, patient_id


def _dates(request: web.Request, default_days: int = 90) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    try:
        end = date.fromisoformat(request.query.get("to", today.isoformat()))
        start = date.fromisoformat(
            request.query.get("from", (end - timedelta(days=default_days)).isoformat())
        )
    except ValueError:
        raise ApiError(
            422,
            "validation_failed",
            "from/to must be YYYY-MM-DD",
            {"fields": {"from": "date", "to": "date"}},
        ) from None
    if start > end or (end - start).days > 366:
        raise ApiError(
            422,
            "validation_failed",
            "from must be before to, at most a year apart",
            {"fields": {"from": "range"}},
        )
    return start, end


async def export_telemetry(request: web.Request) -> web.StreamResponse:
    who, patient_id = _patient_scope(request)
    assert who.org_id is not None
    db = request.app[DB_KEY]
    async with db.tenant(who.org_id) as conn:
        await read_clinical(conn, who, audit_actor(request, who), patient_id, "telemetry_export")
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        response.headers["Content-Disposition"] = (
            f'attachment; filename="telemetry-{patient_id}.jsonl"'
        )
        await response.prepare(request)
        async for rows in store.export(conn, patient_id):
            chunk = b"".join(
                dumps(
                    {
                        "id": r["event_id"],
                        "type": r["type"],
                        "t": r["t"],
                        "session_id": r["session_id"],
                        "exercise_id": r["exercise_id"],
                        "data": r["data"],
                    }
                )
                + b"\n"
                for r in rows
            )
            await response.write(chunk)
        await response.write_eof()
        return response


async def rom_trend(request: web.Request) -> web.Response:
    who, patient_id = _patient_scope(request)
    start, end = _dates(request)
    exercise: uuid.UUID | None = None
    if "exercise_id" in request.query:
        try:
            exercise = uuid.UUID(request.query["exercise_id"])
        except ValueError:
            raise ApiError(
                422,
                "validation_failed",
                "exercise_id must be a UUID",
                {"fields": {"exercise_id": "uuid"}},
            ) from None
    assert who.org_id is not None
    async with request.app[DB_KEY].tenant(who.org_id) as conn:
        await read_clinical(conn, who, audit_actor(request, who), patient_id, "telemetry_rom_trend")
        rows = await store.rom_trend(conn, patient_id, exercise, start, end)
    series: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        series.setdefault(str(r["exercise_id"]), []).append(
            {
                "day": r["day"].isoformat(),
                "reps": r["reps"],
                "rom_mean": round(r["rom_mean"], 2),
                "rom_min": r["rom_min"],
                "rom_max": r["rom_max"],
            }
        )
    return json_response(
        {
            "patient_id": str(patient_id),
            "from": start.isoformat(),
            "to": end.isoformat(),
            "exercises": series,
        }
    )


async def activity(request: web.Request) -> web.Response:
    who, patient_id = _patient_scope(request)
    start, end = _dates(request)
    assert who.org_id is not None
    async with request.app[DB_KEY].tenant(who.org_id) as conn:
        await read_clinical(conn, who, audit_actor(request, who), patient_id, "telemetry_activity")
        days = await store.sessions_by_day(conn, patient_id, start, end)
    return json_response(
        {
            "patient_id": str(patient_id),
            "from": start.isoformat(),
            "to": end.isoformat(),
            "sessions_completed": sum(d["sessions_completed"] for d in days),
            "active_days": sum(1 for d in days if d["sessions_completed"]),
            "days": [
                {
                    "day": d["day"].isoformat(),
                    "sessions_completed": d["sessions_completed"],
                    "active_ms": d["active_ms"],
                }
                for d in days
            ],
        }
    )


_DAY: dict[str, Any] = {"type": "string", "format": "date"}
_INT: dict[str, Any] = {"type": "integer"}
_NUMBER: dict[str, Any] = {"type": "number"}
SUBMIT_OUT = shape(  # SubmitResult: the events refused, each with its id and why
    {
        "accepted": _INT,
        "rejected": {"type": "array", "items": {"type": "object"}},
        "discarded": _INT,
    }
)
ROM_TREND_OUT = shape(
    {
        "patient_id": {"type": "string", "format": "uuid"},
        "from": _DAY,
        "to": _DAY,
        "exercises": {
            "type": "object",
            "description": "exercise id -> its days",
            "additionalProperties": {
                "type": "array",
                "items": shape(
                    {
                        "day": _DAY,
                        "reps": _INT,
                        "rom_mean": nullable(_NUMBER),
                        "rom_min": nullable(_NUMBER),
                        "rom_max": nullable(_NUMBER),
                    }
                ),
            },
        },
    }
)
ACTIVITY_OUT = shape(
    {
        "patient_id": {"type": "string", "format": "uuid"},
        "from": _DAY,
        "to": _DAY,
        "sessions_completed": _INT,
        "active_days": _INT,
        "days": {
            "type": "array",
            "items": shape({"day": _DAY, "sessions_completed": _INT, "active_ms": _INT}),
        },
    }
)
# One line of the JSON-lines export.
EXPORT_LINE = shape(
    {
        "id": {"type": "string"},
        "type": {"type": "string"},
        "t": {},
        "session_id": {},
        "exercise_id": {},
        "data": {},
    }
)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/telemetry",
        post_telemetry,
        SUBMITTERS,
        "Submit a batch of telemetry events (acknowledged once stored)",
        "telemetry",
        BATCH_SCHEMA,
        response_schema=SUBMIT_OUT,
        errors=(413, 429, 503),
    ),
    Endpoint(
        "GET",
        "/v1/patients/{id}/telemetry/export",
        export_telemetry,
        roles(Role.ADMIN),
        "GDPR export of one patient's telemetry as JSON lines",
        "telemetry",
        response_schema=EXPORT_LINE,
        media_type="application/x-ndjson",
        errors=(404,),
    ),
    Endpoint(
        "GET",
        "/v1/patients/{id}/telemetry/rom-trend",
        rom_trend,
        CLINICAL_READERS,
        "Range-of-motion trend per exercise per day (from daily aggregates)",
        "telemetry",
        query={"from": "YYYY-MM-DD", "to": "YYYY-MM-DD", "exercise_id": "UUID"},
        response_schema=ROM_TREND_OUT,
        errors=(404, 422),
    ),
    Endpoint(
        "GET",
        "/v1/patients/{id}/telemetry/activity",
        activity,
        CLINICAL_READERS,
        "Completed sessions and active time per day (from daily aggregates)",
        "telemetry",
        query={"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"},
        response_schema=ACTIVITY_OUT,
        errors=(404, 422),
    ),
]
