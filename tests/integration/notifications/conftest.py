"""Notifications fixtures: a controllable clock, a consumer Context built from the app, a local
SMTP server (aiosmtpd) and a local SMS receiver (aiohttp) that keep what they get, and a small
world (organization, calendar, patients) made through the REST API."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from actors.consumers import Context
from actors.notifications import NotificationOptions, OutboxPump, ReminderPump
from actors.notifications.channels import SmsOptions, SmtpOptions
from server.resources import DB_KEY, EVENTS_KEY, REDIS_KEY, SETTINGS_KEY
from storage.keys import KeySpace
from tests.integration.scheduling.conftest import Api, new_org

Client = TestClient[web.Request, web.Application]


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


_MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)", re.MULTILINE | re.IGNORECASE)


class Inbox:
    """What the local SMTP server received (the handler runs on the server's own thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        with self._lock:
            self._raw.append(content)
        return "250 Message accepted"

    def message_ids(self) -> list[str]:
        """The Message-ID of every message received (without parsing them all)."""
        with self._lock:
            raw = list(self._raw)
        return [m.group(1).decode() for r in raw if (m := _MESSAGE_ID.search(r))]

    @property
    def messages(self) -> list[EmailMessage]:
        with self._lock:
            raw = list(self._raw)
        parsed = []
        for r in raw:
            m = email.message_from_bytes(r, policy=email.policy.default)
            assert isinstance(m, EmailMessage)
            parsed.append(m)
        return parsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, SmtpOptions]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield inbox, SmtpOptions(host="127.0.0.1", port=controller.port, starttls=False)
    finally:
        controller.stop()


@dataclass
class SmsReceiver:
    options: SmsOptions
    received: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    fail_next: int = 0  # answer 503 to this many requests first


@pytest_asyncio.fixture
async def sms() -> AsyncIterator[SmsReceiver]:
    receiver = SmsReceiver(SmsOptions(url="", token="sms-token"))

    async def take(request: web.Request) -> web.Response:
        if receiver.fail_next > 0:
            receiver.fail_next -= 1
            return web.json_response({"error": "busy"}, status=503)
        receiver.auth.append(request.headers.get("Authorization", ""))
        receiver.received.append(orjson.loads(await request.read()))
        return web.json_response({"ok": True}, status=202)

    app = web.Application()
    app.router.add_post("/sms", take)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    receiver.options = SmsOptions(url=str(server.make_url("/sms")), token="sms-token")
    yield receiver
    await server.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def ctx(client: Client, clock: ManualClock) -> Context:
    app = client.app
    settings = app[SETTINGS_KEY]
    return Context(
        db=app[DB_KEY],
        redis=app[REDIS_KEY],
        keys=KeySpace(settings.redis_prefix),
        events=app[EVENTS_KEY],
        keyring=settings.data_keys,
        clock=clock,
    )


def outbox_pump(
    ctx: Context,
    smtp: SmtpOptions | None = None,
    sms: SmsOptions | None = None,
    **overrides: Any,
) -> OutboxPump:
    return OutboxPump(ctx, NotificationOptions(smtp=smtp, sms=sms, **overrides))


def reminder_pump(ctx: Context, batch: int = 200) -> ReminderPump:
    return ReminderPump(ctx, batch=batch)


async def drain(*pumps: OutboxPump | ReminderPump) -> int:
    """Run the pumps until none has anything left to do now."""
    total = 0
    while True:
        done = 0
        for pump in pumps:
            done += await pump.run_once()
        total += done
        if done == 0:
            return total


@dataclass
class World:
    api: Api
    org_id: uuid.UUID
    calendar_id: str
    specialists: list[str]


@pytest_asyncio.fixture
async def world(client: Client) -> World:
    api = Api(client, await new_org(client.app))
    specialist = await api.specialist("Dr. Ionescu")
    calendar = await api.calendar([specialist])
    return World(api, api.org_id, calendar["id"], [specialist])


async def set_org_language(client: Client, org_id: uuid.UUID, language: str) -> None:
    async with client.app[DB_KEY].platform() as conn:
        await conn.execute("UPDATE organizations SET language = $2 WHERE id = $1", org_id, language)
