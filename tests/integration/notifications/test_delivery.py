"""The outbox dispatcher end to end: bookings through the REST API (the calendar shard writes
the appointment, the trigger queues the message in the same transaction), delivery to a local
SMTP server, a local SMS receiver and the patient's event channel; language, preferences, quiet
hours, retries, a dispatcher that died after its claim, and password-reset mail."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from actors.consumers import Context
from actors.notifications.channels import SmtpOptions
from server.resources import DB_KEY, EVENTS_KEY, SETTINGS_KEY
from storage import notifications as store
from storage.db import with_credentials
from storage.notifications import ClinicSettings, Preferences, QuietHours
from storage.types import Channel, Role
from tests.integration.notifications.conftest import (
    Inbox,
    ManualClock,
    SmsReceiver,
    World,
    drain,
    outbox_pump,
    set_org_language,
)
from tests.integration.scheduling.conftest import day_at

Client = TestClient[web.Request, web.Application]


async def _patient(world: World, email: str, phone: str | None = None, **extra: Any) -> str:
    body: dict[str, Any] = {"email": email, **extra}
    if phone:
        body["phone"] = phone
    return await world.api.patient(**body)


async def _prefs(ctx: Context, world: World, patient: str, prefs: Preferences) -> None:
    async with ctx.db.tenant(world.org_id):
        await store.put_preferences(world.org_id, uuid.UUID(patient), prefs)


async def _outbox(client: Client, org: uuid.UUID) -> list[dict[str, Any]]:
    async with client.app[DB_KEY].platform() as conn:
        rows = await conn.fetch(
            "SELECT * FROM notification_outbox WHERE organization_id = $1 ORDER BY created_at",
            org,
        )
    return [dict(r.items()) for r in rows]


def _our_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Every record the product logged, with its extra fields; the test's own SMTP server
    (aiosmtpd's `mail.log`) logs the mail it receives and is left out."""
    return "\n".join(
        f"{r.getMessage()} {r.__dict__}" for r in caplog.records if not r.name.startswith("mail")
    )


def _to(inbox: Inbox, address: str) -> list[Any]:
    return [m for m in inbox.messages if m["To"] == address]


async def test_a_booking_is_confirmed_by_mail_in_the_patients_language(
    client: Client,
    ctx: Context,
    clock: ManualClock,
    world: World,
    smtp: tuple[Inbox, SmtpOptions],
) -> None:
    inbox, options = smtp
    await set_org_language(client, world.org_id, "en")
    ana = await _patient(world, "ana@example.ro", first_name="Ana", last_name="Popescu")
    bob = await _patient(world, "bob@example.com", first_name="Bob", last_name="Smith")
    await _prefs(ctx, world, ana, Preferences(language="ro"))
    booked = await world.api.book_one(world.calendar_id, ana, day_at(3, 10))
    await world.api.book_one(world.calendar_id, bob, day_at(3, 12))

    rows = await _outbox(client, world.org_id)
    assert [(r["kind"], r["status"]) for r in rows] == [("appointment_confirmation", "pending")] * 2
    assert rows[0]["appointment_id"] == uuid.UUID(booked["id"])
    clock.advance(timedelta(minutes=1))
    pump = outbox_pump(ctx, options)
    await drain(pump)
    await pump.close()

    (ro,) = _to(inbox, "ana@example.ro")
    (en,) = _to(inbox, "bob@example.com")
    assert ro["Subject"] == "Programarea dumneavoastră la Clinic este confirmată"
    assert "Bună ziua, Ana Popescu" in ro.get_content()
    assert ro["Content-Language"] == "ro"
    assert en["Subject"] == "Your appointment at Clinic is confirmed"
    assert "Hello Bob Smith" in en.get_content() and "Dr. Ionescu" in en.get_content()
    assert day_at(3, 10).strftime("%d.%m.%Y") in ro.get_content()
    rows = await _outbox(client, world.org_id)
    ids = {f"<{r['id']}@cadence.local>" for r in rows}
    assert {ro["Message-ID"], en["Message-ID"]} == ids  # the stable id, for deduplication
    assert {r["status"] for r in rows} == {"sent"}
    assert all("email" in r["delivered"] and "in_app" in r["delivered"] for r in rows)


async def test_the_clinic_default_language_applies_without_a_preference(
    client: Client,
    ctx: Context,
    clock: ManualClock,
    world: World,
    smtp: tuple[Inbox, SmtpOptions],
) -> None:
    inbox, options = smtp
    async with ctx.db.tenant(world.org_id):
        await store.put_settings(world.org_id, ClinicSettings("ro", (1440, 120), None, None))
    pid = await _patient(world, "dana@example.ro", first_name="Dana", last_name="Radu")
    appt = await world.api.book_one(world.calendar_id, pid, day_at(4, 9))
    await world.api.ok(
        "POST", f"/v1/appointments/{appt['id']}/cancel", {"reason": "patient_request"},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    clock.advance(timedelta(minutes=1))
    pump = outbox_pump(ctx, options)
    await drain(pump)
    await pump.close()
    subjects = sorted(m["Subject"] for m in _to(inbox, "dana@example.ro"))
    assert subjects == [
        "Programarea dumneavoastră la Clinic a fost anulată",
        "Programarea dumneavoastră la Clinic este confirmată",
    ]


async def test_quiet_hours_hold_a_message_until_they_end(
    client: Client,
    ctx: Context,
    clock: ManualClock,
    world: World,
    smtp: tuple[Inbox, SmtpOptions],
) -> None:
    inbox, options = smtp
    pid = await _patient(world, "quiet@example.com")
    await world.api.book_one(world.calendar_id, pid, day_at(5, 11))
    clock.advance(timedelta(minutes=1))
    minute = clock.now().hour * 60 + clock.now().minute
    quiet = QuietHours((minute - 30) % 1440, (minute + 90) % 1440)
    await _prefs(ctx, world, pid, Preferences(quiet=quiet, timezone="UTC"))
    pump = outbox_pump(ctx, options)
    await pump.run_once()
    assert _to(inbox, "quiet@example.com") == []
    (row,) = await _outbox(client, world.org_id)
    assert row["status"] == "pending" and row["attempts"] == 0  # a deferral is no failed try
    end = clock.now().replace(second=0) + timedelta(minutes=90)
    assert row["next_attempt_at"] == end
    clock.advance(timedelta(minutes=60))
    await drain(pump)
    assert _to(inbox, "quiet@example.com") == []
    clock.at = end
    await drain(pump)
    assert len(_to(inbox, "quiet@example.com")) == 1
    await pump.close()


async def test_opt_outs_per_channel_and_per_kind(
    client: Client,
    ctx: Context,
    clock: ManualClock,
    world: World,
    smtp: tuple[Inbox, SmtpOptions],
) -> None:
    inbox, options = smtp
    no_mail = await _patient(world, "nomail@example.com")
    no_updates = await _patient(world, "noupdates@example.com")
    await _prefs(ctx, world, no_mail, Preferences(email=False))
    await _prefs(ctx, world, no_updates, Preferences(updates=False))
    since = await ctx.events.position(Channel.patient(uuid.UUID(no_mail)).name)
    await world.api.book_one(world.calendar_id, no_mail, day_at(6, 9))
    await world.api.book_one(world.calendar_id, no_updates, day_at(6, 11))
    clock.advance(timedelta(minutes=1))
    pump = outbox_pump(ctx, options)
    await drain(pump)
    await pump.close()
    assert _to(inbox, "nomail@example.com") == _to(inbox, "noupdates@example.com") == []
    by_patient = {str(r["patient_id"]): r for r in await _outbox(client, world.org_id)}
    assert by_patient[no_mail]["status"] == "sent"
    assert by_patient[no_mail]["delivered"] == ["in_app"]
    assert by_patient[no_updates]["status"] == "skipped"
    assert by_patient[no_updates]["last_error"] == "opted out"
    replay = await client.app[EVENTS_KEY].replay(Channel.patient(uuid.UUID(no_mail)).name, since)
    kinds = [orjson.loads(f)["type"] for _, f in replay.frames]
    assert "notification" in kinds


async def test_sms_goes_to_the_provider_and_is_retried_after_a_failure(
    client: Client,
    ctx: Context,
    clock: ManualClock,
    world: World,
    smtp: tuple[Inbox, SmtpOptions],
    sms: SmsReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    inbox, options = smtp
    pid = await _patient(
        world, "sms.patient@example.com", phone="+40 721 000 111",
        first_name="Ioana", last_name="Vasilescu",
    )  # fmt: skip
    await world.api.book_one(world.calendar_id, pid, day_at(7, 15))
    sms.fail_next = 1
    clock.advance(timedelta(minutes=1))
    pump = outbox_pump(ctx, options, sms.options, backoff_s=30)
    await pump.run_once()
    (row,) = await _outbox(client, world.org_id)
    assert row["status"] == "pending" and row["last_error"] == "sms: http 503"
    assert sorted(row["delivered"]) == ["email", "in_app"]
    clock.advance(timedelta(seconds=31))
    await drain(pump)
    await pump.close()
    (row,) = await _outbox(client, world.org_id)
    assert row["status"] == "sent" and row["attempts"] == 2
    (text,) = [m for m in sms.received if m["id"] == str(row["id"])]
    assert text["to"] == "+40 721 000 111" and text["id"] == str(row["id"])
    assert "Dr. Ionescu" in text["body"]
    assert set(sms.auth) == {"Bearer sms-token"}
    assert len(_to(inbox, "sms.patient@example.com")) == 1  # the retry did not mail again
    # Nothing personal reached the logs, not even through a failure.
    logged = _our_logs(caplog)
    personal = ("sms.patient@example.com", "721 000 111", "721000111", "Ioana", "Vasilescu")
    for secret in (*personal, "Dr. Ionescu"):
        assert secret not in logged
    assert "notification not delivered" in caplog.text


async def test_in_app_notification_is_an_event_on_the_patient_channel(
    client: Client, ctx: Context, clock: ManualClock, world: World
) -> None:
    pid = await _patient(world, "app@example.com")
    channel = Channel.patient(uuid.UUID(pid)).name
    since = await client.app[EVENTS_KEY].position(channel)
    await world.api.book_one(world.calendar_id, pid, day_at(8, 10))
    clock.advance(timedelta(minutes=1))
    pump = outbox_pump(ctx)  # no e-mail or SMS configured: in-app only
    await drain(pump)
    (row,) = await _outbox(client, world.org_id)
    assert row["status"] == "sent" and row["delivered"] == ["in_app"]
    replay = await client.app[EVENTS_KEY].replay(channel, since)
    frames = [orjson.loads(f) for _, f in replay.frames]
    (note,) = [f for f in frames if f["type"] == "notification"]
    assert note["data"]["id"] == str(row["id"])
    assert note["data"]["kind"] == "appointment_confirmation"
    assert note["data"]["title"] == "Your appointment at Clinic is confirmed"
    assert "Dr. Ionescu" in note["data"]["body"]


async def test_a_dispatcher_that_died_after_its_claim_is_taken_over_after_the_lease(
    client: Client,
    ctx: Context,
    clock: ManualClock,
    world: World,
    smtp: tuple[Inbox, SmtpOptions],
) -> None:
    inbox, options = smtp
    pid = await _patient(world, "lease@example.com")
    await world.api.book_one(world.calendar_id, pid, day_at(9, 10))
    clock.advance(timedelta(minutes=1))
    async with ctx.db.platform() as conn:  # a dispatcher claims, then dies before sending
        (claimed,) = await store.claim_outbox(conn, clock.now(), 10, timedelta(seconds=120))
    pump = outbox_pump(ctx, options, lease_s=120)
    await drain(pump)
    assert _to(inbox, "lease@example.com") == []  # leased: nobody else takes it
    clock.advance(timedelta(seconds=121))
    await drain(pump)
    # The dead claim's late bookkeeping cannot overwrite the newer claim's outcome.
    async with ctx.db.platform() as conn:
        assert not await store.finish_outbox(conn, claimed, "failed", clock.now(), error="x")
    await pump.close()
    (row,) = await _outbox(client, world.org_id)
    assert row["status"] == "sent" and row["attempts"] == 2
    (mail,) = _to(inbox, "lease@example.com")
    assert mail["Message-ID"] == f"<{row['id']}@cadence.local>"


async def test_password_reset_mail_is_queued_by_the_app_role_and_sent_in_quiet_hours(
    client: Client,
    ctx: Context,
    clock: ManualClock,
    smtp: tuple[Inbox, SmtpOptions],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    inbox, options = smtp
    code = "reset-" + uuid.uuid4().hex
    async with ctx.db.anonymous() as conn:  # the application role, no organization
        mail_id = await store.enqueue_password_reset(
            conn, ctx.keyring, email="user@example.com", code=code, language="ro"
        )
    clock.advance(timedelta(minutes=1))
    pump = outbox_pump(ctx, options)
    await drain(pump)
    await pump.close()
    (mail,) = _to(inbox, "user@example.com")
    assert mail["Subject"] == "Resetarea parolei Cadence"
    assert code in mail.get_content()
    logged = _our_logs(caplog)
    assert code not in logged and "user@example.com" not in logged
    assert "account mail sent" in logged
    async with ctx.db.platform() as conn:
        row = await conn.fetchrow("SELECT * FROM account_mail_outbox WHERE id = $1", mail_id)
    assert row is not None and row["status"] == "sent" and row["secret"] is None


async def test_the_app_role_cannot_read_account_mail(client: Client) -> None:
    settings = client.app[SETTINGS_KEY]
    conn = await asyncpg.connect(
        with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    )
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM account_mail_outbox")
    finally:
        await conn.close()
