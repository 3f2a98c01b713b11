"""The identity domain's objects, built once per application."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.auth import ExternalProvider, TokenAuthenticator
from server.identity._backends import Backends
from server.identity.accounts import Accounts
from server.identity.external import ExternalSubjects
from server.identity.gate import MembershipGate
from server.identity.jwks import JwksKeySet
from server.identity.members import Members
from server.identity.organizations import Organizations
from server.identity.passwords import Passwords
from server.identity.policy import Policy
from server.identity.ratelimit import LoginThrottle, RedisRateLimiter
from server.identity.sessions import Sessions
from server.settings import Settings


class Identity:
    def __init__(self, settings: Settings, backends: Backends) -> None:
        self.backends = backends
        self.passwords = Passwords()
        self.limiter = RedisRateLimiter(backends)
        self.gate = MembershipGate(backends, session_ttl_s=settings.access_token_ttl_s)
        self.jwks = JwksKeySet(settings.jwks_url) if settings.jwks_url else None
        provider = None
        self.subjects: ExternalSubjects | None = None
        if self.jwks is not None:
            self.subjects = ExternalSubjects(backends, settings.jwks_issuer, self.gate.feed)
            self.gate.feed.listen(self.subjects.forget)
            provider = ExternalProvider(
                self.jwks, self.subjects, settings.jwks_issuer, settings.jwks_audience
            )
        self.authenticator = TokenAuthenticator(settings.secret, gate=self.gate, provider=provider)
        self.policy = Policy(backends.db)
        throttle = LoginThrottle(backends)
        self.sessions = Sessions(
            secret=settings.secret,
            access_ttl_s=settings.access_token_ttl_s,
            refresh_ttl_s=settings.refresh_token_ttl_s,
            backends=backends,
            passwords=self.passwords,
            throttle=throttle,
            gate=self.gate,
        )
        self.accounts = Accounts(
            backends=backends,
            passwords=self.passwords,
            gate=self.gate,
            throttle=throttle,
            limiter=self.limiter,
            keyring=settings.data_keys,
        )
        self.members = Members(backends, self.passwords, self.gate)
        self.organizations = Organizations(backends)

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        """Cleanup context: listens to revocations; closes the identity provider's session."""
        await self.gate.feed.start()
        yield
        await self.gate.feed.stop()
        if self.jwks is not None:
            await self.jwks.close()


IDENTITY_KEY = web.AppKey("identity", Identity)
