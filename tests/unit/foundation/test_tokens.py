from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import jwt
import pytest

from server import tokens
from storage.types import Role

SECRET = "unit-secret-" + "k" * 32


def test_round_trip_carries_the_protocol_claims() -> None:
    org, user, sid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    token = tokens.issue(SECRET, role=Role.SPECIALIST, org_id=org, user_id=user, specialist_id=sid)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="cadence")
    assert claims["org"] == str(org) and claims["sub"] == str(user) and claims["sid"] == str(sid)
    principal = tokens.verify(SECRET, token)
    assert principal.role is Role.SPECIALIST and principal.specialist_id == sid


@pytest.mark.parametrize(
    "forge",
    [
        lambda c: jwt.encode(c, "another-secret-" + "z" * 32, algorithm="HS256"),
        lambda c: jwt.encode(c, "", algorithm="none"),  # "" is no key, as None
        lambda c: jwt.encode({**c, "exp": int(time.time()) - 5}, SECRET, algorithm="HS256"),
        lambda c: jwt.encode({**c, "aud": "someone-else"}, SECRET, algorithm="HS256"),
        lambda c: jwt.encode({**c, "role": "emperor"}, SECRET, algorithm="HS256"),
        lambda c: "not-a-jwt",
    ],
    ids=["forged", "alg-none", "expired", "wrong-audience", "unknown-role", "garbage"],
)
def test_invalid_tokens_are_refused(forge: Callable[[dict[str, object]], str]) -> None:
    now = int(time.time())
    claims = {
        "sub": str(uuid.uuid4()),
        "org": str(uuid.uuid4()),
        "role": "admin",
        "aud": "cadence",
        "iat": now,
        "exp": now + 60,
    }
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(SECRET, forge(claims))
