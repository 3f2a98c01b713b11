"""Access tokens (PROTOCOL.md "Tokens"): HS256 with CADENCE_SECRET, audience `cadence`; RS256 tokens
of an external identity provider, verified with its published keys, its issuer and our audience
(the subject is then mapped to one of our memberships, server/identity/external.py)."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from storage.types import Principal, Role

AUDIENCE = "cadence"
ALGORITHM = "HS256"
EXTERNAL_ALGORITHM = "RS256"
# Clock skew tolerated for tokens minted by another party's clock.
EXTERNAL_LEEWAY_S = 30
_REQUIRED = ["exp", "iat", "sub", "aud"]
# The sign-in (refresh-token family) a token belongs to. Not OIDC's `sid`: PROTOCOL.md gives
# `sid` to the specialist id.
SESSION_CLAIM = "sess"


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired, or for another audience."""


@dataclass(frozen=True, slots=True)
class Verified:
    """A token whose signature and claims checked out. `issued_at` (the `iat` claim) lets the
    authenticator refuse tokens minted before a membership's sessions were invalidated."""

    principal: Principal
    issued_at: float
    external: bool = False  # verified with an identity provider's key


@dataclass(frozen=True, slots=True)
class ClaimNames:
    """Where an external identity provider puts our claims (PROTOCOL.md names by default)."""

    org: str = "org"
    role: str = "role"
    patient: str = "pid"
    specialist: str = "sid"


PROTOCOL_CLAIMS = ClaimNames()


def issue(
    secret: str,
    *,
    role: Role,
    org_id: uuid.UUID | None,
    user_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    specialist_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    ttl_s: int = 900,
    extra: dict[str, Any] | None = None,
) -> str:
    now = time.time()
    claims: dict[str, Any] = {
        "sub": str(user_id or uuid.uuid4()),
        "org": str(org_id) if org_id else None,
        "role": role.value,
        "aud": AUDIENCE,
        # Millisecond precision (RFC 7519 allows fractions), so a token minted just after a
        # membership change is told apart from one minted just before it.
        "iat": math.floor(now * 1000) / 1000,
        "exp": int(now) + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    if patient_id:
        claims["pid"] = str(patient_id)
    if specialist_id:
        claims["sid"] = str(specialist_id)
    if session_id:
        claims[SESSION_CLAIM] = str(session_id)
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def principal_from_claims(claims: dict[str, Any], names: ClaimNames = PROTOCOL_CLAIMS) -> Principal:
    try:
        role = Role(claims[names.role])
        org = claims.get(names.org)
        if org is None and role is not Role.SUPERADMIN:
            raise InvalidToken("token has no organization")
        patient, specialist = claims.get(names.patient), claims.get(names.specialist)
        session = claims.get(SESSION_CLAIM)
        return Principal(
            user_id=uuid.UUID(claims["sub"]),
            org_id=uuid.UUID(org) if org else None,
            role=role,
            patient_id=uuid.UUID(patient) if patient else None,
            specialist_id=uuid.UUID(specialist) if specialist else None,
            expires_at=float(claims["exp"]),
            session_id=uuid.UUID(session) if session else None,
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise InvalidToken("token claims are invalid") from exc


def decode(secret: str, token: str) -> Verified:
    """Verify one of our own HS256 tokens."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": [*_REQUIRED, "role"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    return Verified(principal_from_claims(claims), float(claims["iat"]))


def verify(secret: str, token: str) -> Principal:
    return decode(secret, token).principal


@dataclass(frozen=True, slots=True)
class ExternalClaims:
    """What we take from an identity provider's token: who it is, nothing it may grant. The
    membership (organization, role, patient or specialist) comes from our own database."""

    issuer: str
    subject: str
    # Which of the subject's memberships to use when it has several; never a grant by itself.
    org_hint: uuid.UUID | None
    issued_at: float
    expires_at: float


def decode_external(
    key: Any,
    token: str,
    *,
    issuer: str,
    audience: str,
    names: ClaimNames = PROTOCOL_CLAIMS,
) -> ExternalClaims:
    """Verify an identity provider's RS256 token with `key` (from its JWKS): signature, expiry,
    issuer and audience. Its role and patient/specialist claims are ignored."""
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[EXTERNAL_ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=EXTERNAL_LEEWAY_S,
            options={"require": [*_REQUIRED, "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    subject, hint = claims["sub"], claims.get(names.org)
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise InvalidToken("token subject is invalid")
    try:
        org_hint = uuid.UUID(hint) if isinstance(hint, str) and hint else None
        return ExternalClaims(issuer, subject, org_hint, float(claims["iat"]), float(claims["exp"]))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("token claims are invalid") from exc
