"""The identity domain's objects, built once per application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.auth import TokenAuthenticator
from server.identity._backends import Backends
from server.identity.gate import MembershipGate
from server.identity.jwks import JwksKeySet
from server.identity.members import Members
from server.identity.organizations import Organizations
from server.identity.passwords import Passwords
from server.identity.policy import Policy
from server.identity.ratelimit import RedisRateLimiter
from server.identity.sessions import Sessions
from server.settings import Settings


class Identity:
    def __init__(self, settings: Settings, backends: Backends) -> None:
        self.backends = backends
        self.passwords = Passwords()
        self.limiter = RedisRateLimiter(backends)
        self.gate = MembershipGate(backends)
        self.jwks = JwksKeySet(settings.jwks_url) if settings.jwks_url else None
        self.authenticator = TokenAuthenticator(settings.secret, gate=self.gate, jwks=self.jwks)
        self.policy = Policy(backends.db)
        self.sessions = Sessions(
            secret=settings.secret,
            access_ttl_s=settings.access_token_ttl_s,
            refresh_ttl_s=settings.refresh_token_ttl_s,
            backends=backends,
            passwords=self.passwords,
            limiter=self.limiter,
        )
        self.members = Members(backends, self.passwords, self.gate)
        self.organizations = Organizations(backends)

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """Cleanup context: closes the identity provider's HTTP session."""
        yield
        if self.jwks is not None:
            await self.jwks.close()


IDENTITY_KEY = web.AppKey("identity", Identity)
