"""Authentication of HTTP requests: the bearer token (or, for WebSocket upgrades, the
`access_token` query parameter) verified into a Principal."""

from __future__ import annotations

from aiohttp import web

from server import tokens
from server.errors import ApiError
from storage.types import Principal


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


class TokenAuthenticator:
    """Verifies HS256 access tokens signed with CADENCE_SECRET."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def verify(self, token: str) -> Principal:
        try:
            return tokens.verify(self._secret, token)
        except tokens.InvalidToken:
            raise ApiError(401, "unauthorized", "token is invalid or expired") from None

    async def authenticate(self, request: web.Request) -> Principal | None:
        token = bearer_token(request)
        return None if token is None else self.verify(token)
