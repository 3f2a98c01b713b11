from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

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
        pytest.param(lambda c: jwt.encode(c, "", "none"), id="alg none"),  # "" is no key
        pytest.param(lambda c: jwt.encode(c, SECRET * 2, "HS512"), id="another HMAC"),
    ],
)  # fmt: skip
def test_bad_tokens_are_refused(mutate: Callable[[dict[str, object]], str]) -> None:
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "org": str(uuid.uuid4()), "role": "admin",
              "aud": "cadence", "iat": now, "exp": now + 60}  # fmt: skip
    with pytest.raises(tokens.InvalidToken):
        tokens.decode(SECRET, mutate(claims))


def test_superadmin_needs_no_organization() -> None:
    token = tokens.issue(SECRET, role=Role.SUPERADMIN, org_id=None)
    assert tokens.verify(SECRET, token).org_id is None


def test_provider_tokens_yield_issuer_subject_and_org_hint_only() -> None:
    """The provider's role claim is not read: our membership decides (identity/external.py)."""
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
    found = tokens.decode_external(
        key.public_key(), token, issuer="https://idp", audience="cadence", names=names
    )
    assert (found.issuer, found.subject, found.org_hint) == ("https://idp", "auth0|abc", org)
    for issuer, audience in (("https://other", "cadence"), ("https://idp", "other")):
        with pytest.raises(tokens.InvalidToken):
            tokens.decode_external(key.public_key(), token, issuer=issuer, audience=audience)
    with pytest.raises(tokens.InvalidToken):  # our secret cannot verify a provider token
        tokens.decode(SECRET, token)


async def test_the_authenticator_keeps_verified_tokens_only_until_they_expire() -> None:
    from prometheus_client import REGISTRY

    from server.auth import TokenAuthenticator
    from server.errors import ApiError

    def hits() -> float:
        labels = {"cache": "verified_tokens", "outcome": "hit"}
        return REGISTRY.get_sample_value("cadence_cache_lookups_total", labels) or 0.0

    auth = TokenAuthenticator(SECRET)
    org = uuid.uuid4()
    # Two seconds: a busy machine must not let it expire before the first check.
    token = tokens.issue(SECRET, role=Role.RECEPTIONIST, org_id=org, ttl_s=2)
    before = hits()
    first = await auth.authenticate_token(token)
    assert await auth.authenticate_token(token) == first
    assert hits() - before == 1  # the second call was served from the cache

    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for _ in range(2):
        with pytest.raises(ApiError):
            await auth.authenticate_token(forged)
    assert hits() - before == 1  # refusals are never kept

    # `exp` is a whole second: wait until it has passed, then the cached verdict is void too.
    claims = jwt.decode(token, options={"verify_signature": False})
    await asyncio.sleep(max(0.0, claims["exp"] - time.time()) + 0.01)
    with pytest.raises(ApiError) as refused:
        await auth.authenticate_token(token)
    assert refused.value.status == 401
