"""REST: the clinic's notification settings and templates, its outbox, and a patient's
preferences (who may see and change which)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from actors.consumers import Context
from actors.notifications.channels import SmtpOptions
from storage.types import Role
from tests.integration.notifications.conftest import (
    Inbox,
    ManualClock,
    World,
    drain,
    outbox_pump,
)
from tests.integration.scheduling.conftest import day_at

SETTINGS = "/v1/notifications/settings"
TEMPLATE = "/v1/notifications/templates/appointment_confirmation/email/ro"


async def test_clinic_settings_are_read_and_replaced_by_admins_only(world: World) -> None:
    api = world.api
    assert await api.ok("GET", SETTINGS) == {
        "default_language": None,
        "reminder_leads_min": [1440, 120],
        "quiet_hours": None,
        "timezone": None,
    }
    body = {
        "default_language": "ro",
        "reminder_leads_min": [60, 2880],
        "quiet_hours": {"start": "21:30", "end": "07:00"},
        "timezone": "Europe/Bucharest",
    }
    saved = await api.ok("PUT", SETTINGS, body)
    assert saved == {**body, "reminder_leads_min": [2880, 60]}
    assert await api.ok("GET", SETTINGS) == saved
    status, error = await api.call("PUT", SETTINGS, {**body, "timezone": "Mars/Olympus"})
    assert status == 422 and error["error"]["details"]["fields"] == {
        "timezone": "is not a known time zone"
    }
    status, _ = await api.call("PUT", SETTINGS, {**body, "reminder_leads_min": [0]})
    assert status == 422
    status, _ = await api.call("GET", SETTINGS, role=Role.RECEPTIONIST)
    assert status == 403


async def test_new_leads_apply_to_the_next_bookings(
    world: World, ctx: Context, client: object
) -> None:
    api = world.api
    await api.ok(
        "PUT", SETTINGS,
        {"default_language": None, "reminder_leads_min": [180], "quiet_hours": None,
         "timezone": None},
    )  # fmt: skip
    pid = await api.patient(email="leads@example.com")
    appt = await api.book_one(world.calendar_id, pid, day_at(2, 12))
    async with ctx.db.platform() as conn:
        leads = await conn.fetch(
            "SELECT lead_min, status FROM appointment_reminders WHERE appointment_id = $1",
            uuid.UUID(appt["id"]),
        )
    assert [(r["lead_min"], r["status"]) for r in leads] == [(180, "planned")]


async def test_templates_are_validated_and_override_the_builtin_text(
    world: World, ctx: Context, clock: ManualClock, smtp: tuple[Inbox, SmtpOptions]
) -> None:
    api = world.api
    builtin = await api.ok("GET", TEMPLATE)
    assert builtin["source"] == "builtin" and "{date}" in builtin["body"]
    assert "patient_name" in builtin["placeholders"]
    status, error = await api.call("PUT", TEMPLATE, {"subject": "x", "body": "{date} {ssn}"})
    assert status == 422
    assert "{ssn}" in error["error"]["details"]["fields"]["body"]
    status, _ = await api.call(
        "PUT", "/v1/notifications/templates/no_such_kind/email/ro", {"body": "x"}
    )
    assert status == 422
    body = {"subject": "Programare {{confirmată}} la {clinic}", "body": "Vă așteptăm {date}."}
    saved = await api.ok("PUT", TEMPLATE, body)
    assert saved["source"] == "clinic" and saved["body"] == body["body"]
    listed = await api.ok("GET", "/v1/notifications/templates")
    assert [(t["kind"], t["channel"], t["language"]) for t in listed["data"]] == [
        ("appointment_confirmation", "email", "ro")
    ]

    await api.ok(
        "PUT", SETTINGS,
        {"default_language": "ro", "reminder_leads_min": [1440], "quiet_hours": None,
         "timezone": None},
    )  # fmt: skip
    pid = await api.patient(email="tpl@example.com")
    await api.book_one(world.calendar_id, pid, day_at(3, 9))
    clock.advance(timedelta(minutes=1))
    inbox, options = smtp
    pump = outbox_pump(ctx, options)
    await drain(pump)
    (mail,) = [m for m in inbox.messages if m["To"] == "tpl@example.com"]
    assert mail["Subject"] == "Programare {confirmată} la Clinic"
    assert mail.get_content().strip() == f"Vă așteptăm {day_at(3, 9).strftime('%d.%m.%Y')}."

    await api.ok("DELETE", TEMPLATE, expect=204)
    status, _ = await api.call("DELETE", TEMPLATE)
    assert status == 404
    assert (await api.ok("GET", TEMPLATE))["source"] == "builtin"


async def test_the_outbox_lists_delivery_state_without_text(
    world: World, ctx: Context, clock: ManualClock
) -> None:
    api = world.api
    first = await api.patient(email="o1@example.com")
    second = await api.patient(email="o2@example.com")
    await api.book_one(world.calendar_id, first, day_at(4, 9))
    await api.book_one(world.calendar_id, second, day_at(4, 11))
    page = await api.ok("GET", "/v1/notifications/outbox?limit=1")
    assert len(page["data"]) == 1 and page["next_cursor"]
    rest = await api.ok("GET", f"/v1/notifications/outbox?limit=1&cursor={page['next_cursor']}")
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    row = page["data"][0]
    assert row["status"] == "pending" and row["kind"] == "appointment_confirmation"
    assert row["patient_id"] == second  # newest first
    assert not {"body", "subject", "to", "data"} & set(row)
    clock.advance(timedelta(minutes=1))
    await drain(outbox_pump(ctx))
    sent = await api.ok("GET", f"/v1/notifications/outbox?status=sent&patient_id={first}")
    assert [r["delivered"] for r in sent["data"]] == [["in_app"]]
    status, _ = await api.call("GET", "/v1/notifications/outbox?status=lost")
    assert status == 422


async def test_patients_manage_their_own_preferences_only(world: World) -> None:
    api = world.api
    me, other = await api.patient(), await api.patient()
    path = f"/v1/patients/{me}/notification-preferences"
    defaults = await api.ok("GET", path, role=Role.PATIENT, patient_id=me)
    assert defaults == {
        "language": None,
        "channels": {"email": True, "sms": True, "in_app": True},
        "reminders": True,
        "updates": True,
        "quiet_hours": None,
        "timezone": None,
    }
    wanted = {
        **defaults,
        "language": "ro",
        "channels": {"email": True, "sms": False, "in_app": True},
        "reminders": False,
        "quiet_hours": {"start": "22:00", "end": "08:00"},
        "timezone": "Europe/Bucharest",
    }
    assert await api.ok("PUT", path, wanted, role=Role.PATIENT, patient_id=me) == wanted
    assert await api.ok("GET", path, role=Role.RECEPTIONIST) == wanted
    # Someone else's preferences do not exist for a patient.
    status, _ = await api.call("GET", path, role=Role.PATIENT, patient_id=other)
    assert status == 404
    status, _ = await api.call("PUT", path, wanted, role=Role.PATIENT, patient_id=other)
    assert status == 404
    status, _ = await api.call("GET", path, role=Role.SPECIALIST)
    assert status == 403
    status, _ = await api.call("GET", f"/v1/patients/{uuid.uuid4()}/notification-preferences")
    assert status == 404
    status, _ = await api.call("PUT", path, {**wanted, "language": "Romanian"})
    assert status == 422
