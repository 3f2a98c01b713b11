"""Which connections a revocation ends, its wire form, and the mail sink (no services)."""

from __future__ import annotations

import logging
import stat
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest

from server.identity.revocation import Revocation
from server.mailer import DroppingMailer, FileMailer, Mail
from storage.types import Principal, Role

ORG, OTHER_ORG = uuid.uuid4(), uuid.uuid4()
USER, SESSION = uuid.uuid4(), uuid.uuid4()


def _principal(**changes: Any) -> Principal:
    fields: dict[str, Any] = {
        "user_id": USER, "org_id": ORG, "role": Role.SPECIALIST, "session_id": SESSION,
    }  # fmt: skip
    return Principal(**{**fields, **changes})


def test_a_membership_revocation_ends_that_member_in_that_organization_only() -> None:
    revoked = Revocation(USER, ORG)
    assert revoked.matches(_principal())
    assert revoked.matches(_principal(session_id=None))  # operator-style tokens too
    assert not revoked.matches(_principal(org_id=OTHER_ORG))
    assert not revoked.matches(_principal(user_id=uuid.uuid4()))
    assert not revoked.matches(None)  # anonymous connections


def test_a_session_revocation_ends_that_sign_in_only() -> None:
    revoked = Revocation(USER, None, frozenset({SESSION}))
    assert revoked.matches(_principal())
    assert revoked.matches(_principal(org_id=OTHER_ORG))
    assert not revoked.matches(_principal(session_id=uuid.uuid4()))
    assert not revoked.matches(_principal(session_id=None))


@pytest.mark.parametrize(
    "revocation",
    [
        Revocation(USER),
        Revocation(USER, ORG),
        Revocation(USER, None, frozenset({SESSION, uuid.uuid4()})),
    ],
)
def test_revocations_survive_the_wire(revocation: Revocation) -> None:
    assert Revocation.decode(revocation.encode()) == revocation


async def test_the_file_sink_writes_one_private_file_per_mail(tmp_path: Path) -> None:
    inbox = tmp_path / "mail"
    mailer = FileMailer(inbox)
    await mailer.send(Mail("a@example.test", "Subject", "secret code 123"))
    files = list(inbox.glob("*.json"))
    assert len(files) == 1 and not list(inbox.glob(".*"))  # no partial file left behind
    assert orjson.loads(files[0].read_bytes()) == {
        "to": "a@example.test",
        "subject": "Subject",
        "body": "secret code 123",
    }
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


async def test_without_a_sink_the_mail_is_dropped_and_its_body_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await DroppingMailer().send(Mail("a@example.test", "Subject", "secret code 123"))
    assert caplog.records
    assert all("secret code" not in repr(r.__dict__) for r in caplog.records)
