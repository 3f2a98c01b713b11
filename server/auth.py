"""Authentication: a bearer token (or, for WebSocket upgrades, the `access_token` query parameter)
verified into a Principal.

Our own tokens are HS256 with CADENCE_SECRET; when a JWKS URL is configured, RS256 tokens of the
external identity provider are accepted too, if they name its issuer and our audience and their
subject is linked to one of our memberships (which, not the token, says organization and role).
The algorithm is chosen from the token header, but each algorithm is only ever checked with its
own key, so `alg: none` and HS256-signed-with-the-public-key confusion both fail. Every verified
token then passes the session gate (disabled memberships, revoked sessions).

Verifying a JWT (base64, JSON, HMAC or RSA, claim checks) costs more than the rest of a small
request, and a client presents the same access token for many calls: verified tokens are kept
for a while, keyed by the whole token string (signature included). Only tokens that verified are
kept, so forged ones are checked every time and cannot crowd the cache out; the session gate
still runs on every request. Provider tokens are not kept: a key withdrawn from the JWKS must
stop verifying at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from aiohttp import web

from server import tokens
from server.errors import ApiError
from storage.cache import BoundedCache
from storage.types import Principal

VERIFIED_CACHE_SIZE = 8192


class SessionGate(Protocol):
    async def check(self, principal: Principal, issued_at: float) -> None:
        """Raise ApiError(401) when the principal's session may no longer be used."""


class KeySource(Protocol):
    async def key(self, kid: str | None) -> Any:
        """The provider's public key for `kid`; raises when there is none."""


class SubjectDirectory(Protocol):
    async def principal_for(self, claims: tokens.ExternalClaims) -> Principal | None:
        """Our membership for the provider's subject; None when it has none (refused)."""


@dataclass(frozen=True, slots=True)
class ExternalProvider:
    """An identity provider we accept tokens of: its keys, the issuer and audience its tokens
    must name, and where its subjects are mapped to our memberships."""

    keys: KeySource
    subjects: SubjectDirectory
    issuer: str
    audience: str
    claim_names: tokens.ClaimNames = tokens.PROTOCOL_CLAIMS


def bearer_token(request: web.Request, *, allow_query: bool = False) -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "unauthorized", "Authorization must be 'Bearer <token>'")
        return value.strip()
    if allow_query:
        return request.query.get("access_token") or None
    return None


def _unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "token is invalid or expired")


class TokenAuthenticator:
    def __init__(
        self,
        secret: str,
        *,
        gate: SessionGate | None = None,
        provider: ExternalProvider | None = None,
    ) -> None:
        self._secret = secret
        self._gate = gate
        self._provider = provider
        # Wall-clock deadlines: a token's `exp` is a wall-clock instant.
        self._verified: BoundedCache[str, tokens.Verified] = BoundedCache(
            "verified_tokens", VERIFIED_CACHE_SIZE, clock=time.time
        )

    def verify(self, token: str) -> Principal:
        """Signature and claims of one of our own tokens only (no session gate)."""
        try:
            return tokens.verify(self._secret, token)
        except tokens.InvalidToken:
            raise _unauthorized() from None

    async def authenticate_token(self, token: str) -> Principal:
        """The principal of a bearer token: verified, mapped and gated. Raises ApiError(401).

        The WebSocket gateway calls this for the upgrade header, the query parameter and the
        first-frame `auth` op alike."""
        verified = await self._verify(token)
        if self._gate is not None:
            await self._gate.check(verified.principal, verified.issued_at)
        return verified.principal

    async def _verify(self, token: str) -> tokens.Verified:
        known = self._verified.get(token)
        if known is not None:
            return known
        verified = await self._check(token)
        if not verified.external and verified.principal.expires_at is not None:
            self._verified.put(token, verified, verified.principal.expires_at)
        return verified

    async def _check(self, token: str) -> tokens.Verified:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized() from None
        alg = header.get("alg")
        try:
            if alg == tokens.ALGORITHM:
                return tokens.decode(self._secret, token)
            if alg == tokens.EXTERNAL_ALGORITHM and self._provider is not None:
                return await self._check_external(self._provider, header, token)
        except tokens.InvalidToken:
            raise _unauthorized() from None
        raise _unauthorized()

    async def _check_external(
        self, provider: ExternalProvider, header: dict[str, Any], token: str
    ) -> tokens.Verified:
        kid = header.get("kid")
        try:
            key = await provider.keys.key(kid if isinstance(kid, str) else None)
        except Exception:  # unknown kid or an unreachable provider: not verifiable
            raise _unauthorized() from None
        claims = tokens.decode_external(
            key,
            token,
            issuer=provider.issuer,
            audience=provider.audience,
            names=provider.claim_names,
        )
        principal = await provider.subjects.principal_for(claims)
        if principal is None:  # a stranger to us, whatever the provider says about them
            raise _unauthorized()
        return tokens.Verified(principal, claims.issued_at, external=True)

    async def authenticate(self, request: web.Request) -> Principal | None:
        try:
            token = bearer_token(request)
            return None if token is None else await self.authenticate_token(token)
        except ApiError:
            if _is_websocket_upgrade(request):
                # Browsers cannot read the status of a refused upgrade: the gateway accepts it
                # and closes with 4001, which they can read (PROTOCOL.md).
                return None
            raise


def _is_websocket_upgrade(request: web.Request) -> bool:
    # Only a GET can upgrade; a public route answered anonymously is what omitting the bad
    # token would have got, and a non-public one still answers 401 (no principal).
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"
