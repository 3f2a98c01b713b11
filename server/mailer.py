"""Outgoing e-mail. Until the notification outbox exists, a message is written as one JSON file
in `CADENCE_MAIL_DIR` (a sink that operators and tests read, and that a relay can pick up);
without that directory a message is dropped with a log line that names its subject only.

Messages may carry secrets (a password-reset link): they are never logged, and the files are
readable by their owner only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson

log = logging.getLogger("cadence.mail")


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    body: str


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None:
        """Hand `mail` over for delivery (at most once; failures are logged, not raised)."""


class FileMailer:
    """One file per message, `<unix ms>-<id>.json` = `{"to", "subject", "body"}`, written
    atomically (a reader never sees half a message)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    async def send(self, mail: Mail) -> None:
        try:
            await asyncio.to_thread(self._write, mail)
        except OSError as exc:
            log.error("mail could not be written", extra={"error": repr(exc)})

    def _write(self, mail: Mail) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{int(time.time() * 1000)}-{uuid.uuid4().hex}"
        partial = self.directory / f".{name}.tmp"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps({"to": mail.to, "subject": mail.subject, "body": mail.body}))
        partial.rename(self.directory / f"{name}.json")


class DroppingMailer:
    """No mail sink configured (production without CADENCE_MAIL_DIR)."""

    async def send(self, mail: Mail) -> None:
        log.warning("mail not sent: CADENCE_MAIL_DIR is not set", extra={"subject": mail.subject})


def mailer_for(directory: str) -> Mailer:
    return FileMailer(directory) if directory else DroppingMailer()
