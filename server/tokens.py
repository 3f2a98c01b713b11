"""Access tokens (PROTOCOL.md "Tokens"): HS256 with CADENCE_SECRET, audience `cadence`."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from storage.types import Principal, Role

AUDIENCE = "cadence"
ALGORITHM = "HS256"


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired, or for another audience."""


def issue(
    secret: str,
    *,
    role: Role,
    org_id: uuid.UUID | None,
    user_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    specialist_id: uuid.UUID | None = None,
    ttl_s: int = 900,
    extra: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": str(user_id or uuid.uuid4()),
        "org": str(org_id) if org_id else None,
        "role": role.value,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    if patient_id:
        claims["pid"] = str(patient_id)
    if specialist_id:
        claims["sid"] = str(specialist_id)
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    try:
        role = Role(claims["role"])
        org = claims.get("org")
        if org is None and role is not Role.SUPERADMIN:
            raise InvalidToken("token has no organization")
        return Principal(
            user_id=uuid.UUID(claims["sub"]),
            org_id=uuid.UUID(org) if org else None,
            role=role,
            patient_id=uuid.UUID(claims["pid"]) if claims.get("pid") else None,
            specialist_id=uuid.UUID(claims["sid"]) if claims.get("sid") else None,
            expires_at=float(claims["exp"]),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidToken("token claims are invalid") from exc


def verify(secret: str, token: str) -> Principal:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "iat", "sub", "aud", "role"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from exc
    return principal_from_claims(claims)
