"""REST endpoints of notifications: a clinic's settings and templates and its outbox (admins),
and a patient's notification preferences (the patient themself, or the front desk).

Templates are validated when saved: only the placeholders of their kind (422 naming the
unknown ones). A kind is a notification kind or `automation_message:<name>`, the wording of the
automation rules' `send_notification` with that template name. The outbox list shows delivery
state only; no message text is stored at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from actors.notifications import PLACEHOLDERS, unknown_placeholders
from actors.notifications.templates import CHANNELS, base_kind, builtin
from server.errors import not_found, validation_failed
from server.http import iso, json_response, path_id, read_json
from server.notifications import schemas
from server.routing import Endpoint, roles
from server.web.paging import instant_id_page, page_response
from server.web.params import query_uuid
from server.work import Work, unit_of_work
from storage import notifications as store
from storage import scheduling
from storage.notifications import ClinicSettings, Preferences, QuietHours, Template
from storage.types import Principal, Role

TAG = "notifications"
ADMIN = roles(Role.ADMIN)
# A patient's own preferences, or the front desk's on their behalf.
PREFERENCE_EDITORS = roles(Role.ADMIN, Role.RECEPTIONIST, Role.PATIENT)
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "skipped")


def _tenant(request: web.Request) -> AbstractAsyncContextManager[Work]:
    return unit_of_work(request, Work)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _quiet_out(quiet: QuietHours | None) -> dict[str, str] | None:
    return (
        None if quiet is None else {"start": _clock(quiet.start_min), "end": _clock(quiet.end_min)}
    )


def _quiet_in(value: Mapping[str, str] | None) -> QuietHours | None:
    if value is None:
        return None
    return QuietHours(_minutes(value["start"]), _minutes(value["end"]))


def _timezone(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise validation_failed({field: "is not a known time zone"}) from None
    return value


# --- clinic settings -------------------------------------------------------------------------


def _render_settings(s: ClinicSettings) -> dict[str, Any]:
    return {
        "default_language": s.default_language,
        "reminder_leads_min": list(s.reminder_leads_min),
        "quiet_hours": _quiet_out(s.quiet),
        "timezone": s.timezone,
    }


async def get_settings(request: web.Request) -> web.Response:
    async with _tenant(request) as work:
        found = await store.get_settings(work.org_id)
    return json_response(_render_settings(found))


async def put_settings(request: web.Request) -> web.Response:
    body = await read_json(request, schemas.SETTINGS)
    wanted = ClinicSettings(
        default_language=body["default_language"],
        reminder_leads_min=tuple(sorted(body["reminder_leads_min"], reverse=True)),
        quiet=_quiet_in(body["quiet_hours"]),
        timezone=_timezone(body["timezone"], "timezone"),
    )
    async with _tenant(request) as work:
        saved = await store.put_settings(work.org_id, wanted)
        shown = _render_settings(saved)
        await work.audit(
            "notifications.settings", "notification_settings", work.org_id, after=shown
        )
    return json_response(shown)


# --- templates -------------------------------------------------------------------------------


def _template_key(request: web.Request) -> tuple[str, str, str]:
    kind = request.match_info["kind"]
    channel = request.match_info["channel"]
    language = request.match_info["language"]
    problems = {}
    if base_kind(kind) is None:
        problems["kind"] = (
            "is not a kind of notification (nor automation_message:<name>, the name in "
            "lower case letters, digits and _, at most 40)"
        )
    if channel not in CHANNELS:
        problems["channel"] = "must be one of " + ", ".join(CHANNELS)
    if len(language) != 2 or not language.isascii() or not language.islower():
        problems["language"] = "must be a two-letter language code"
    if problems:
        raise validation_failed(problems)
    return kind, channel, language


def _render_template(t: Template, source: str) -> dict[str, Any]:
    return {
        "kind": t.kind,
        "channel": t.channel,
        "language": t.language,
        "subject": t.subject,
        "body": t.body,
        "source": source,
        "placeholders": sorted(PLACEHOLDERS[base]) if (base := base_kind(t.kind)) else [],
        "updated_at": iso(t.updated_at),
    }


async def list_templates(request: web.Request) -> web.Response:
    async with _tenant(request):
        found = await store.list_templates()
    return json_response({"data": [_render_template(t, "clinic") for t in found]})


async def get_template(request: web.Request) -> web.Response:
    kind, channel, language = _template_key(request)
    async with _tenant(request):
        found = await store.get_template(kind, channel, language)
    if found is not None:
        return json_response(_render_template(found, "clinic"))
    text = builtin(kind, channel, language)
    default = Template(kind, channel, language, text.subject, text.body)
    return json_response(_render_template(default, "builtin"))


async def put_template(request: web.Request) -> web.Response:
    kind, channel, language = _template_key(request)
    body = await read_json(request, schemas.TEMPLATE_PUT)
    subject = body.get("subject", "")
    unknown = unknown_placeholders(kind, subject, body["body"])
    if unknown:
        names = ", ".join("{" + u + "}" for u in sorted(unknown))
        raise validation_failed({"body": f"unknown placeholders for {kind}: {names}"})
    async with _tenant(request) as work:
        saved = await store.put_template(
            work.org_id, Template(kind, channel, language, subject, body["body"])
        )
        await work.audit(
            "notifications.template", "notification_template", f"{kind}/{channel}/{language}",
            after={"subject": subject, "body": body["body"]},
        )  # fmt: skip
    return json_response(_render_template(saved, "clinic"))


async def delete_template(request: web.Request) -> web.Response:
    kind, channel, language = _template_key(request)
    async with _tenant(request) as work:
        if not await store.delete_template(kind, channel, language):
            raise not_found("template")
        await work.audit(
            "notifications.template_delete", "notification_template",
            f"{kind}/{channel}/{language}", after={},
        )  # fmt: skip
    return web.Response(status=204)


# --- outbox ----------------------------------------------------------------------------------


def _render_outbox(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "kind": r["kind"],
        "patient_id": str(r["patient_id"]),
        "appointment_id": str(r["appointment_id"]) if r["appointment_id"] else None,
        "status": r["status"],
        "attempts": r["attempts"],
        "delivered": list(r["delivered"]),
        "last_error": r["last_error"],
        "next_attempt_at": iso(r["next_attempt_at"]),
        "created_at": iso(r["created_at"]),
        "finished_at": iso(r["finished_at"]),
    }


async def list_outbox(request: web.Request) -> web.Response:
    status = request.query.get("status") or None
    if status is not None and status not in OUTBOX_STATUSES:
        raise validation_failed({"status": "must be one of " + ", ".join(OUTBOX_STATUSES)})
    flt = store.OutboxFilter(status=status, patient_id=query_uuid(request, "patient_id"))
    page = instant_id_page(request)
    async with _tenant(request):
        found = await store.list_outbox(flt, page.limit + 1, page.after)
    return json_response(
        page_response(found, page, _render_outbox, lambda r: [r["created_at"], r["id"]])
    )


# --- patient preferences ---------------------------------------------------------------------


def _render_preferences(p: Preferences) -> dict[str, Any]:
    return {
        "language": p.language,
        "channels": {"email": p.email, "sms": p.sms, "in_app": p.in_app},
        "reminders": p.reminders,
        "updates": p.updates,
        "quiet_hours": _quiet_out(p.quiet),
        "timezone": p.timezone,
    }


async def _patient_in_reach(who: Principal, patient_id: uuid.UUID) -> None:
    """A patient reaches only their own preferences; anyone else's are not found (as with
    every patient endpoint, an id outside one's reach names nothing)."""
    if who.role is Role.PATIENT and who.patient_id != patient_id:
        raise not_found("patient")
    if not await scheduling.patient_exists(patient_id):
        raise not_found("patient")


async def get_preferences(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    async with _tenant(request) as work:
        await _patient_in_reach(work.principal, patient_id)
        found = await store.get_preferences(patient_id)
    return json_response(_render_preferences(found))


async def put_preferences(request: web.Request) -> web.Response:
    patient_id = path_id(request, what="patient")
    body = await read_json(request, schemas.PREFERENCES)
    wanted = Preferences(
        language=body["language"],
        email=body["channels"]["email"],
        sms=body["channels"]["sms"],
        in_app=body["channels"]["in_app"],
        reminders=body["reminders"],
        updates=body["updates"],
        quiet=_quiet_in(body["quiet_hours"]),
        timezone=_timezone(body["timezone"], "timezone"),
    )
    async with _tenant(request) as work:
        await _patient_in_reach(work.principal, patient_id)
        saved = await store.put_preferences(work.org_id, patient_id, wanted)
        shown = _render_preferences(saved)
        await work.audit("notifications.preferences", "patient", patient_id, after=shown)
    return json_response(shown)


_TEMPLATE = "/v1/notifications/templates/{kind}/{channel}/{language}"
_PREFS = "/v1/patients/{id}/notification-preferences"
SETTINGS_JSON = schemas.SETTINGS
ENDPOINTS: list[Endpoint] = [
    Endpoint(
        "GET", "/v1/notifications/settings", get_settings, ADMIN,
        "The clinic's notification settings (language, reminder leads, quiet hours)", TAG,
        response_schema=SETTINGS_JSON,
    ),
    Endpoint(
        "PUT", "/v1/notifications/settings", put_settings, ADMIN,
        "Replace the clinic's notification settings", TAG,
        request_schema=SETTINGS_JSON, response_schema=SETTINGS_JSON, errors=(422,),
    ),
    Endpoint(
        "GET", "/v1/notifications/templates", list_templates, ADMIN,
        "The clinic's own message templates", TAG, response_schema=schemas.TEMPLATES,
    ),
    Endpoint(
        "GET", _TEMPLATE, get_template, ADMIN,
        "A message template: the clinic's own, else the built-in one", TAG,
        response_schema=schemas.TEMPLATE, errors=(422,),
    ),
    Endpoint(
        "PUT", _TEMPLATE, put_template, ADMIN,
        "Set the clinic's own template of a message (only its kind's placeholders)", TAG,
        request_schema=schemas.TEMPLATE_PUT, response_schema=schemas.TEMPLATE, errors=(422,),
    ),
    Endpoint(
        "DELETE", _TEMPLATE, delete_template, ADMIN,
        "Remove the clinic's template (the built-in one applies again)", TAG,
        status=204, errors=(404, 422),
    ),
    Endpoint(
        "GET", "/v1/notifications/outbox", list_outbox, ADMIN,
        "Messages to patients and their delivery state, newest first (no message text)", TAG,
        response_schema=schemas.OUTBOX_PAGE,
        query={"status": "pending, sending, sent, failed or skipped",
               "patient_id": "one patient's messages", "limit": "page size",
               "cursor": "next_cursor of the previous page"},
        errors=(422,),
    ),
    Endpoint(
        "GET", _PREFS, get_preferences, PREFERENCE_EDITORS,
        "A patient's notification preferences (a patient: their own)", TAG,
        response_schema=schemas.PREFERENCES, errors=(404,),
    ),
    Endpoint(
        "PUT", _PREFS, put_preferences, PREFERENCE_EDITORS,
        "Replace a patient's notification preferences (a patient: their own)", TAG,
        request_schema=schemas.PREFERENCES, response_schema=schemas.PREFERENCES,
        errors=(404, 422),
    ),
]  # fmt: skip
