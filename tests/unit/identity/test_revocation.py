"""Which connections a revocation ends, and its wire form (no services)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from server.identity.revocation import Revocation
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
