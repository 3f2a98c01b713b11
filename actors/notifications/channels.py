"""The ways out: e-mail over SMTP, SMS through an HTTP provider, in-app on the patient's
channel, and a file sink for development. One interface, `Sender.send(message)`, raising
`ChannelError` (never with the address or the text in it: errors are logged and stored).

Delivery is at least once. Every message carries a stable id (its outbox row's id: the e-mail
`Message-ID`, the SMS `id`, the in-app event's `id`), so a message sent again after a crash
between the send and its bookkeeping can be recognized by the receiver.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

import aiohttp
import aiosmtplib
import orjson
from redis.exceptions import RedisError

from storage.events import EventLog
from storage.types import Channel


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered message to one address. Holds personal data: never logged whole."""

    id: str  # stable: the outbox row's id
    kind: str
    to: str  # an e-mail address, a phone number, or the patient id (in-app)
    subject: str
    body: str
    language: str

    def __repr__(self) -> str:
        return f"Message(id={self.id}, kind={self.kind})"


class ChannelError(Exception):
    """A delivery that did not happen; `retry`: worth trying again later."""

    def __init__(self, channel: str, reason: str, *, retry: bool = True) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason
        self.retry = retry


class Sender(Protocol):
    name: str

    async def send(self, message: Message) -> None: ...

    async def close(self) -> None: ...


DEFAULT_SENDER = "Cadence <no-reply@cadence.local>"


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    host: str
    port: int = 25
    sender: str = DEFAULT_SENDER
    starttls: bool | None = None  # None: opportunistic (if the server offers it)
    use_tls: bool = False
    username: str = ""
    password: str = ""
    timeout_s: float = 10.0
    domain: str = "cadence.local"  # the right-hand side of Message-IDs


class SmtpEmail:
    """One SMTP session per batch: opened at the first message, reused for the next ones, and
    ended by `close()` (the pump calls it after each batch)."""

    name = "email"

    def __init__(self, options: SmtpOptions) -> None:
        self._o = options
        self._client: aiosmtplib.SMTP | None = None

    def build(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._o.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        mail["Message-ID"] = f"<{message.id}@{self._o.domain}>"
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.body, charset="utf-8")
        mail["Content-Language"] = message.language  # after set_content, which resets Content-*
        return mail

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is None or not self._client.is_connected:
            client = aiosmtplib.SMTP(
                hostname=self._o.host,
                port=self._o.port,
                start_tls=self._o.starttls,
                use_tls=self._o.use_tls,
                username=self._o.username or None,
                password=self._o.password or None,
                timeout=self._o.timeout_s,
            )
            await client.connect()
            self._client = client
        return self._client

    async def send(self, message: Message) -> None:
        mail = self.build(message)
        try:
            client = await self._connected()
            try:
                await client.send_message(mail)
            except aiosmtplib.SMTPServerDisconnected:
                # The server ended an idle session: once more on a fresh one.
                self._client = None
                await (await self._connected()).send_message(mail)
        except aiosmtplib.SMTPRecipientsRefused:
            raise ChannelError(self.name, "recipient refused", retry=False) from None
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx is the server's final word about this message (bad address, refused).
            raise ChannelError(self.name, f"smtp {exc.code}", retry=exc.code < 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            raise ChannelError(self.name, type(exc).__name__) from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()


@dataclass(frozen=True, slots=True)
class SmsOptions:
    url: str
    token: str = ""
    timeout_s: float = 10.0


class HttpSms:
    """POSTs `{"to", "body", "id"}` as JSON with a bearer token; any 2xx is accepted."""

    name = "sms"

    def __init__(self, options: SmsOptions) -> None:
        self._o = options
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: Message) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._o.timeout_s)
            )
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.id}
        if self._o.token:
            headers["Authorization"] = f"Bearer {self._o.token}"
        body = orjson.dumps({"to": message.to, "body": message.body, "id": message.id})
        try:
            async with self._session.post(self._o.url, data=body, headers=headers) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ChannelError(self.name, type(exc).__name__) from None
        if not 200 <= status < 300:
            # 4xx other than 408/429: this message will not be taken, however often it comes.
            retry = status >= 500 or status in (408, 429)
            raise ChannelError(self.name, f"http {status}", retry=retry)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class InApp:
    """An event `notification` on the patient's channel (`patient:<id>`), which the gateway
    pushes to their open apps and keeps for resume."""

    name = "in_app"

    def __init__(self, events: EventLog) -> None:
        self._events = events

    async def send(self, message: Message) -> None:
        try:
            channel = Channel.patient(uuid.UUID(message.to)).name
            await self._events.publish(
                channel,
                "notification",
                {
                    "id": message.id,
                    "kind": message.kind,
                    "title": message.subject,
                    "body": message.body,
                },
            )
        except (RedisError, OSError) as exc:
            raise ChannelError(self.name, type(exc).__name__) from None

    async def close(self) -> None:
        return None


class FileEmail:
    """Development sink: one JSON file per message (`{"to", "subject", "body", "id"}`),
    owner-readable only, written atomically; the format of server/mailer.py's FileMailer."""

    name = "email"

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    async def send(self, message: Message) -> None:
        try:
            await asyncio.to_thread(self._write, message)
        except OSError as exc:
            raise ChannelError(self.name, type(exc).__name__) from None

    def _write(self, message: Message) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{int(time.time() * 1000)}-{message.id}"
        partial = self.directory / f".{name}.tmp"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(
                orjson.dumps(
                    {"to": message.to, "subject": message.subject, "body": message.body,
                     "id": message.id}
                )
            )  # fmt: skip
        partial.rename(self.directory / f"{name}.json")

    async def close(self) -> None:
        return None
