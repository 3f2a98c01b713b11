"""RS256 tokens of an external identity provider, verified against its JWKS (served here by a
local test endpoint with locally generated keys), with key rotation. The subject maps to one of
our memberships; tests/security/test_external_tokens.py attacks the mapping."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.auth import ExternalProvider, TokenAuthenticator
from server.errors import ApiError
from server.identity.jwks import JwksKeySet
from server.resources import DB_KEY
from server.settings import Settings
from server.tokens import ExternalClaims
from storage.db import Database
from storage.types import Principal, Role
from tests.integration.identity._world import World

Client = TestClient[web.Request, web.Application]

ISSUER = "https://idp.example"
SUBJECT = "idp|user-42"


class Provider:
    """A fake identity provider: signing keys and the JWKS document it publishes."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []
        self.fetches = 0
        self.down = False

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid in self.published:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": out}

    def token(self, kid: str, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": SUBJECT, "aud": "cadence",
            "iat": now, "exp": now + 300, "org": str(ORG), "role": "receptionist",
        } | overrides  # fmt: skip
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def public_pem(self, kid: str) -> bytes:
        return (
            self.keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )


ORG = uuid.uuid4()


class OneSubject:
    """Our directory reduced to one linked subject (these tests are about keys, not mapping)."""

    def __init__(self) -> None:
        self.principal = Principal(uuid.uuid4(), ORG, Role.RECEPTIONIST)

    async def principal_for(self, claims: ExternalClaims) -> Principal | None:
        if (claims.issuer, claims.subject) != (ISSUER, SUBJECT):
            return None
        return dataclasses.replace(self.principal, expires_at=claims.expires_at)


def authenticator(keys: JwksKeySet) -> TokenAuthenticator:
    provider = ExternalProvider(keys, OneSubject(), ISSUER, "cadence")
    return TokenAuthenticator("our-secret-" + "z" * 40, provider=provider)


async def link(db: Database, subject: str, user_id: uuid.UUID, issuer: str = ISSUER) -> None:
    """What an operator does once per person: this provider subject is this account."""
    async with db.platform() as conn:
        await conn.execute(
            "INSERT INTO external_identities (issuer, subject, user_id) VALUES ($1, $2, $3)",
            issuer,
            subject,
            user_id,
        )


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[tuple[Provider, str]]:
    idp = Provider()
    idp.add_key("k1")
    idp.published = ["k1"]

    async def serve(request: web.Request) -> web.Response:
        idp.fetches += 1
        if idp.down:
            raise web.HTTPServiceUnavailable()
        return web.json_response(idp.jwks())

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", serve)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield idp, str(server.make_url("/.well-known/jwks.json"))
    await server.close()


async def test_provider_tokens_are_accepted_over_http_and_mapped(
    provider: tuple[Provider, str],
    settings: Settings,
    aiohttp_client: AiohttpClient,
    world: World,
    client: Client,
) -> None:
    idp, url = provider
    member = world.a.members[Role.RECEPTIONIST]
    await link(client.app[DB_KEY], SUBJECT, member.user_id)
    server: Client = await aiohttp_client(
        create_app(
            dataclasses.replace(settings, jwks_url=url, jwks_issuer=ISSUER, jwks_audience="cadence")
        )
    )
    # The provider's org and role claims say nothing: the membership in our database does.
    token = idp.token("k1", org=None, role="admin")
    response = await server.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["role"] == "receptionist" and body["user"]["id"] == str(member.user_id)
    assert body["organization"]["id"] == str(world.a.id)


async def test_key_rotation_and_every_refusal(provider: tuple[Provider, str]) -> None:
    idp, url = provider
    keys = JwksKeySet(url, min_refresh_s=0)
    auth = authenticator(keys)
    try:
        principal = await auth.authenticate_token(idp.token("k1"))
        assert principal.role is Role.RECEPTIONIST and principal.org_id == ORG

        # The provider rotates: k2 signs new tokens, k1 is withdrawn.
        idp.add_key("k2")
        idp.published = ["k2"]
        fetches = idp.fetches
        assert (await auth.authenticate_token(idp.token("k2"))).role is Role.RECEPTIONIST
        assert idp.fetches == fetches + 1  # the unknown kid triggered one refetch

        refused = {
            "expired": idp.token("k2", iat=int(time.time()) - 900, exp=int(time.time()) - 600),
            "wrong audience": idp.token("k2", aud="another-app"),
            "wrong issuer": idp.token("k2", iss="https://evil.example"),
            "no issuer": idp.token("k2", iss=None),
            "unlinked subject": idp.token("k2", sub="idp|someone-else"),
            "unknown kid": _with_kid(idp.token("k2"), "k9"),
            "withdrawn key": idp.token("k1"),
            "forged signature": _tamper(idp.token("k2")),
            "alg none": _alg_none(idp.token("k2")),
            "HS256 signed with the public key": _hs256_with(idp.public_pem("k2"), idp.token("k2")),
        }  # fmt: skip
        for name, token in refused.items():
            with pytest.raises(ApiError) as caught:
                await auth.authenticate_token(token)
            assert caught.value.status == 401, name
    finally:
        await keys.close()


async def test_known_keys_survive_a_provider_outage(provider: tuple[Provider, str]) -> None:
    idp, url = provider
    keys = JwksKeySet(url, ttl_s=0.0, min_refresh_s=0)
    auth = authenticator(keys)
    try:
        await auth.authenticate_token(idp.token("k1"))
        idp.down = True
        assert (await auth.authenticate_token(idp.token("k1"))).role is Role.RECEPTIONIST
    finally:
        await keys.close()


def _with_kid(token: str, kid: str) -> str:
    header, rest = token.split(".", 1)
    decoded = json.loads(jwt.utils.base64url_decode(header))
    return jwt.utils.base64url_encode(json.dumps({**decoded, "kid": kid}).encode()).decode() + (
        "." + rest
    )


def _tamper(token: str) -> str:
    header, body, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(body))
    claims["role"] = "admin"
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{forged}.{signature}"


def _alg_none(token: str) -> str:
    _, body, _ = token.split(".")
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    return f"{header}.{body}."


def _hs256_with(key: bytes, token: str) -> str:
    """The key-confusion attack: the provider's public key used as an HMAC secret."""
    _, body, _ = token.split(".")
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}').decode()
    mac = hmac.new(key, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{jwt.utils.base64url_encode(mac).decode()}"
