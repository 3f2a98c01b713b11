from __future__ import annotations

import time
import uuid

import jwt
import pytest

from server import tokens
from storage.types import Role

SECRET = "unit-secret-" + "s" * 40


def test_issued_tokens_carry_the_protocol_claims() -> None:
    org, user, patient = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    token = tokens.issue(SECRET, role=Role.PATIENT, org_id=org, user_id=user, patient_id=patient)
    verified = tokens.decode(SECRET, token)
    assert verified.principal.org_id == org and verified.principal.user_id == user
    assert verified.principal.patient_id == patient and verified.principal.role is Role.PATIENT
    assert abs(verified.issued_at - time.time()) < 5


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda c: jwt.encode(c, "other-secret-" + "o" * 40, "HS256"), id="forged"),
        pytest.param(lambda c: jwt.encode({**c, "exp": int(time.time()) - 1}, SECRET, "HS256"),
                     id="expired"),
        pytest.param(lambda c: jwt.encode({**c, "aud": "elsewhere"}, SECRET, "HS256"),
                     id="wrong audience"),
        pytest.param(lambda c: jwt.encode({**c, "role": "wizard"}, SECRET, "HS256"),
                     id="unknown role"),
        pytest.param(lambda c: jwt.encode({k: v for k, v in c.items() if k != "org"}, SECRET,
                                          "HS256"), id="member role without organization"),
        pytest.param(lambda c: jwt.encode(c, None, "none"), id="alg none"),
        pytest.param(lambda c: jwt.encode(c, SECRET * 2, "HS512"), id="another HMAC"),
    ],
)  # fmt: skip
def test_bad_tokens_are_refused(mutate: object) -> None:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "org": str(uuid.uuid4()), "role": "admin",
              "aud": "cadence", "iat": now, "exp": now + 60}  # fmt: skip
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(SECRET, mutate(claims))  # type: ignore[operator]


def test_superadmin_needs_no_organization() -> None:
    token = tokens.issue(SECRET, role=Role.SUPERADMIN, org_id=None)
    assert tokens.verify(SECRET, token).org_id is None


def test_provider_subjects_map_to_stable_uuids_and_custom_claim_names() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    org = uuid.uuid4()
    claims = {
        "iss": "https://idp", "sub": "auth0|abc", "aud": "cadence", "iat": now, "exp": now + 60,
        "https://cadence/org": str(org), "https://cadence/role": "owner",
    }  # fmt: skip
    names = tokens.ClaimNames(org="https://cadence/org", role="https://cadence/role")
    token = jwt.encode(claims, key, algorithm="RS256")
    first = tokens.decode_external(key.public_key(), token, names).principal
    second = tokens.decode_external(key.public_key(), token, names).principal
    assert first == second and first.org_id == org and first.role is Role.OWNER
    with pytest.raises(tokens.InvalidToken):  # our secret cannot verify a provider token
        tokens.decode(SECRET, token)
