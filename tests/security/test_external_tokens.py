"""Issue 15, hole 5, as attacks with a real identity provider's tokens (locally generated RSA keys
served as a JWKS over HTTP): a well-signed token of the provider used to claim another audience,
another issuer, an organization or a role it was never given here. The provider proves who
someone is; only our database says where they are a member and with which role.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from server.app import create_app
from server.resources import DB_KEY
from server.settings import Settings, SettingsError
from storage.types import Role
from tests.integration.identity._world import World, build_world
from tests.integration.identity.test_external_idp import (  # noqa: F401 - the provider fixture
    ISSUER,
    Provider,
    link,
    provider,
)

Client = TestClient[web.Request, web.Application]
AUDIENCE = "cadence-api"


async def _setup(
    provider: tuple[Provider, str],  # noqa: F811
    settings: Settings,  # noqa: F811
    client: Client,  # noqa: F811
    aiohttp_client: AiohttpClient,
) -> tuple[Provider, Client, World]:
    idp, url = provider
    world = await build_world(client.app)
    configured = dataclasses.replace(
        settings, jwks_url=url, jwks_issuer=ISSUER, jwks_audience=AUDIENCE
    )
    server: Client = await aiohttp_client(create_app(configured))
    return idp, server, world


def _subject(name: str) -> str:
    """Subjects are unique per test: the database lives for the whole run."""
    return f"idp|{name}-{uuid.uuid4().hex[:8]}"


def _token(idp: Provider, **claims: Any) -> str:
    """The provider's token; `org` only when a test sets it (the fixture's default is random)."""
    return idp.token("k1", **{"org": None, **claims})


async def _call(server: Client, token: str, path: str = "/v1/me") -> tuple[int, Any]:
    response = await server.get(path, headers={"Authorization": f"Bearer {token}"})
    return response.status, await response.json()


async def test_tokens_for_another_audience_or_issuer_are_refused(
    provider: tuple[Provider, str],  # noqa: F811
    settings: Settings,  # noqa: F811
    client: Client,  # noqa: F811
    aiohttp_client: AiohttpClient,
) -> None:
    idp, server, world = await _setup(provider, settings, client, aiohttp_client)
    member = world.a.members[Role.RECEPTIONIST]
    subject = _subject("reception")
    await link(client.app[DB_KEY], subject, member.user_id)
    good = _token(idp, sub=subject, aud=AUDIENCE)
    assert (await _call(server, good))[0] == 200  # the feature works: refusals below are real
    for name, token in {
        # A token the provider minted for some other application of the same provider.
        "other audience": _token(idp, sub=subject, aud="another-app"),
        "our default audience": _token(idp, sub=subject, aud="cadence"),
        "no audience": _token(idp, sub=subject, aud=None),
        "other issuer": _token(idp, sub=subject, aud=AUDIENCE, iss="https://evil"),
        "no issuer": _token(idp, sub=subject, aud=AUDIENCE, iss=None),
    }.items():
        status, body = await _call(server, token)
        assert status == 401 and body["error"]["code"] == "unauthorized", name


async def test_a_provider_subject_without_a_membership_here_is_refused(
    provider: tuple[Provider, str],  # noqa: F811
    settings: Settings,  # noqa: F811
    client: Client,  # noqa: F811
    aiohttp_client: AiohttpClient,
) -> None:
    """A stranger whose token names clinic A and the admin role gets nothing."""
    idp, server, world = await _setup(provider, settings, client, aiohttp_client)
    token = _token(idp, sub=_subject("stranger"), aud=AUDIENCE, org=str(world.a.id), role="admin")
    assert (await _call(server, token))[0] == 401
    assert (await _call(server, token, "/v1/users"))[0] == 401


async def test_org_and_role_claims_cannot_raise_a_members_rights(
    provider: tuple[Provider, str],  # noqa: F811
    settings: Settings,  # noqa: F811
    client: Client,  # noqa: F811
    aiohttp_client: AiohttpClient,
) -> None:
    idp, server, world = await _setup(provider, settings, client, aiohttp_client)
    member = world.a.members[Role.RECEPTIONIST]
    subject = _subject("reception")
    await link(client.app[DB_KEY], subject, member.user_id)
    victim_patient = world.b.members[Role.PATIENT]

    # Claims an admin role and a patient id: the membership (receptionist, no patient) wins.
    token = _token(
        idp, sub=subject, aud=AUDIENCE, org=None, role="admin",
        pid=str(victim_patient.patient_id),
    )  # fmt: skip
    status, body = await _call(server, token)
    assert status == 200
    assert body["role"] == "receptionist" and body["patient_id"] is None
    assert body["organization"]["id"] == str(world.a.id)
    assert (await _call(server, token, "/v1/users"))[0] == 403  # admin only
    assert (await _call(server, token, "/v1/audit"))[0] == 403

    # Claims clinic B, where the person is no member: refused, not mapped into B.
    into_b = _token(idp, sub=subject, aud=AUDIENCE, org=str(world.b.id))
    assert (await _call(server, into_b))[0] == 401
    # A superadmin claim is just as meaningless.
    root = _token(idp, sub=subject, aud=AUDIENCE, org=None, role="superadmin")
    status, body = await _call(server, root)
    assert status == 200 and body["role"] == "receptionist"


async def test_a_disabled_members_provider_token_is_refused(
    provider: tuple[Provider, str],  # noqa: F811
    settings: Settings,  # noqa: F811
    client: Client,  # noqa: F811
    aiohttp_client: AiohttpClient,
) -> None:
    idp, server, world = await _setup(provider, settings, client, aiohttp_client)
    member = world.a.members[Role.SPECIALIST]
    subject = _subject("specialist")
    await link(client.app[DB_KEY], subject, member.user_id)
    token = _token(idp, sub=subject, aud=AUDIENCE)
    status, body = await _call(server, token)
    assert status == 200 and body["specialist_id"] == str(member.specialist_id)
    admin = world.headers(world.a.members[Role.ADMIN])
    response = await server.post(f"/v1/users/{member.user_id}/disable", headers=admin)
    assert response.status == 200
    fresh = _token(idp, sub=subject, aud=AUDIENCE)
    assert (await _call(server, token))[0] == 401
    assert (await _call(server, fresh))[0] == 401


def test_a_jwks_url_without_issuer_and_audience_is_a_one_line_exit_2() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": "postgresql://u@h/db",
        "REDIS_URL": "redis://h",
        "CADENCE_ENV": "development",
        "CADENCE_JWKS_URL": "https://idp.example/.well-known/jwks.json",
    }
    for missing in ({}, {"CADENCE_JWKS_ISSUER": ISSUER}, {"CADENCE_JWKS_AUDIENCE": AUDIENCE}):
        try:
            Settings.from_env({**env, **missing})
        except SettingsError as exc:
            assert "CADENCE_JWKS_ISSUER" in str(exc)
        else:
            raise AssertionError(f"accepted without {missing}")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "server.cli",
            "token",
            "--org",
            str(uuid.uuid4()),
            "--role",
            "admin",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "CADENCE_JWKS_AUDIENCE" in done.stderr
    complete = {**env, "CADENCE_JWKS_ISSUER": ISSUER, "CADENCE_JWKS_AUDIENCE": AUDIENCE}
    assert Settings.from_env(complete).jwks_audience == AUDIENCE


async def test_only_a_platform_operator_links_subjects_and_unlinking_ends_access(
    provider: tuple[Provider, str],  # noqa: F811
    settings: Settings,  # noqa: F811
    client: Client,  # noqa: F811
    aiohttp_client: AiohttpClient,
) -> None:
    idp, server, world = await _setup(provider, settings, client, aiohttp_client)
    member, other = world.a.members[Role.OWNER], world.b.members[Role.OWNER]
    subject = _subject("owner")
    path = f"/v1/accounts/{member.user_id}/external-identity"
    token = _token(idp, sub=subject, aud=AUDIENCE)
    assert (await _call(server, token))[0] == 401  # not linked yet

    # A clinic's admin cannot claim a provider subject, not even for their own member.
    for who in (world.a.members[Role.ADMIN], world.b.members[Role.ADMIN]):
        response = await server.put(path, json={"subject": subject}, headers=world.headers(who))
        assert response.status == 403
    root = world.headers(world.superadmin)
    linked = await server.put(path, json={"subject": subject}, headers=root)
    assert linked.status == 200, await linked.text()
    assert (await linked.json())["issuer"] == ISSUER
    # One subject, one account: it cannot be moved over to someone else's account.
    taken = await server.put(
        f"/v1/accounts/{other.user_id}/external-identity", json={"subject": subject}, headers=root
    )
    assert taken.status == 409
    assert (await _call(server, token))[0] == 200

    socket = await server.ws_connect("/v1/ws", headers={"Authorization": f"Bearer {token}"})
    await socket.send_json({"id": 1, "op": "ping"})
    reply = await socket.receive_json(timeout=5)
    assert reply["op"] == "ok"
    unlinked = await server.delete(path, headers=root)
    assert unlinked.status == 204
    closed = await socket.receive(timeout=5)
    assert closed.data == 4003
    assert (await _call(server, token))[0] == 401
