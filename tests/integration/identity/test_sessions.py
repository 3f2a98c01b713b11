"""Sign-in, tokens, refresh rotation, sign-out, and every way a token must be refused."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp.plugin import AiohttpClient

from server import tokens
from server.app import create_app
from server.identity.gate import LOCAL_TTL_S
from server.resources import DB_KEY
from server.settings import Settings
from storage.types import Role
from tests.integration.identity._world import PASSWORD, World, audit_rows

Client = TestClient[web.Request, web.Application]


async def login(
    client: Client, email: str, password: str = PASSWORD, **extra: object
) -> dict[str, Any]:
    response = await client.post(
        "/v1/auth/login", json={"email": email, "password": password, **extra}
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def me(client: Client, access_token: str) -> int:
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {access_token}"})
    return response.status


async def test_login_issues_protocol_claims_and_me_describes_the_caller(
    client: Client, world: World
) -> None:
    patient = world.a.members[Role.PATIENT]
    pair = await login(client, patient.email.upper())  # e-mail is case-insensitive
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(patient.user_id)
    assert claims["org"] == str(world.a.id)
    assert claims["role"] == "patient"
    assert claims["pid"] == str(patient.patient_id)
    assert claims["aud"] == "cadence"
    assert claims["exp"] - int(claims["iat"]) == pair["expires_in"]
    assert "sid" not in claims

    response = await client.get(
        "/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    body = await response.json()
    assert response.status == 200
    assert body["user"]["id"] == str(patient.user_id)
    assert body["organization"]["id"] == str(world.a.id)
    assert body["role"] == "patient" and body["patient_id"] == str(patient.patient_id)


async def test_superadmin_signs_into_the_platform(client: Client, world: World) -> None:
    pair = await login(client, world.superadmin.email)
    assert pair["role"] == "superadmin" and pair["organization_id"] is None
    assert await me(client, pair["access_token"]) == 200


async def test_a_member_of_two_organizations_picks_one(client: Client, world: World) -> None:
    admin_b = world.b.members[Role.ADMIN]
    member = world.a.members[Role.RECEPTIONIST]
    response = await client.post(
        "/v1/users",
        json={"email": member.email, "role": "owner", "password": "another password 1"},
        headers=world.headers(admin_b),
    )
    assert response.status == 201
    default = await login(client, member.email)
    assert default["organization_id"] == str(world.a.id)  # earliest membership
    chosen = await login(client, member.email, organization_id=str(world.b.id))
    assert chosen["organization_id"] == str(world.b.id) and chosen["role"] == "owner"
    # An admin of B cannot set the password of A's member: the old one still works.
    bad = await client.post(
        "/v1/auth/login", json={"email": member.email, "password": "another password 1"}
    )
    assert bad.status == 401


async def test_wrong_password_and_unknown_account_answer_alike(
    client: Client, world: World
) -> None:
    known = world.a.members[Role.ADMIN].email
    answers = []
    for email in (known, f"nobody-{uuid.uuid4().hex}@example.test"):
        response = await client.post(
            "/v1/auth/login", json={"email": email, "password": "wrong password!"}
        )
        body = await response.json()
        answers.append((response.status, body["error"]["code"], body["error"]["message"]))
    assert answers[0] == answers[1] == (401, "unauthorized", "invalid e-mail or password")


async def test_refresh_rotates_and_reuse_revokes_the_family(client: Client, world: World) -> None:
    db = client.app[DB_KEY]
    first = await login(client, world.a.members[Role.SPECIALIST].email)
    response = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status == 200
    second = await response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert await me(client, second["access_token"]) == 200

    # The rotated (first) token comes back after the grace window (sessions.REFRESH_GRACE; the
    # clock is moved by backdating its use): refused, and the live second one dies with it.
    async with db.platform() as conn:
        await conn.execute(
            "UPDATE refresh_tokens SET used_at = used_at - interval '1 hour' "
            "WHERE used_at IS NOT NULL AND user_id = $1",
            world.a.members[Role.SPECIALIST].user_id,
        )
    reuse = await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status == 401
    again = await client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert again.status == 401
    family = jwt.decode(first["access_token"], options={"verify_signature": False})
    rows = await audit_rows(db, action="auth.refresh_reuse")
    assert len(rows) == 1
    assert rows[0]["organization_id"] == world.a.id
    assert rows[0]["diff"] == {"revoked": {"before": False, "after": True}}
    assert family["sub"] == str(rows[0]["actor_user_id"])


async def test_refresh_tokens_are_stored_hashed(client: Client, world: World) -> None:
    pair = await login(client, world.a.members[Role.ADMIN].email)
    async with client.app[DB_KEY].platform() as conn:
        stored = await conn.fetch("SELECT token_hash FROM refresh_tokens")
    secret_part = pair["refresh_token"].partition(".")[2].encode()
    assert stored and all(secret_part not in bytes(r["token_hash"]) for r in stored)


async def test_edited_or_malformed_refresh_tokens_are_refused(client: Client, world: World) -> None:
    pair = await login(client, world.a.members[Role.ADMIN].email)
    _, _, secret = pair["refresh_token"].partition(".")
    for forged in (f"{world.b.id}.{secret}", f"platform.{secret}", "garbage", secret):
        response = await client.post("/v1/auth/refresh", json={"refresh_token": forged})
        assert response.status == 401, forged


async def test_logout_revokes_the_refresh_token(client: Client, world: World) -> None:
    pair = await login(client, world.a.members[Role.OWNER].email)
    response = await client.post("/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert response.status == 204
    response = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert response.status == 401
    # Logging out an unknown token says nothing either way.
    unknown = await client.post("/v1/auth/logout", json={"refresh_token": "platform." + "x" * 40})
    assert unknown.status == 204


async def test_forged_none_expired_and_foreign_audience_tokens_get_401(
    client: Client, world: World
) -> None:
    admin = world.a.members[Role.ADMIN]
    now = int(time.time())
    claims = {
        "sub": str(admin.user_id), "org": str(world.a.id), "role": "admin", "aud": "cadence",
        "iat": now, "exp": now + 600,
    }  # fmt: skip
    forged = jwt.encode(claims, "not-our-secret-" + "y" * 40, algorithm="HS256")
    header = jwt.utils.base64url_encode(b'{"alg":"none","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    alg_none = f"{header}.{body}."
    expired = tokens.issue(world.secret, role=Role.ADMIN, org_id=world.a.id, ttl_s=-10)
    foreign = jwt.encode({**claims, "aud": "someone-else"}, world.secret, algorithm="HS256")
    no_aud = jwt.encode({k: v for k, v in claims.items() if k != "aud"}, world.secret, "HS256")
    for name, token in {
        "forged": forged, "alg none": alg_none, "expired": expired,
        "wrong audience": foreign, "no audience": no_aud, "garbage": "a.b.c",
    }.items():  # fmt: skip
        response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 401, name
        assert (await response.json())["error"]["code"] == "unauthorized"


async def test_a_disabled_members_valid_token_is_refused_from_then_on(
    client: Client, world: World
) -> None:
    target = world.a.members[Role.SPECIALIST]
    pair = await login(client, target.email)
    token = pair["access_token"]
    assert await me(client, token) == 200  # also warms the cache with "active"
    admin = world.headers(world.a.members[Role.ADMIN])
    response = await client.post(f"/v1/users/{target.user_id}/disable", headers=admin)
    assert response.status == 200
    assert await me(client, token) == 401
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refresh.status == 401
    relogin = await client.post(
        "/v1/auth/login", json={"email": target.email, "password": PASSWORD}
    )
    assert relogin.status == 401

    # Enabled again: the old token stays dead; a new sign-in works.
    response = await client.post(f"/v1/users/{target.user_id}/enable", headers=admin)
    assert response.status == 200
    assert await me(client, token) == 401
    fresh = await login(client, target.email)
    assert await me(client, fresh["access_token"]) == 200


async def test_the_disabled_check_survives_a_cold_cache(client: Client, world: World) -> None:
    """Postgres is the truth: with the cache emptied, a disabled member is still refused."""
    from server.resources import KEYS_KEY, REDIS_KEY

    target = world.a.members[Role.RECEPTIONIST]
    token = world.token(target)
    admin = world.headers(world.a.members[Role.ADMIN])
    assert (await client.post(f"/v1/users/{target.user_id}/disable", headers=admin)).status == 200
    keys = client.app[KEYS_KEY]
    await client.app[REDIS_KEY].delete(keys.named("member", str(world.a.id), str(target.user_id)))
    assert await me(client, token) == 401


async def test_a_role_change_retires_older_tokens_and_refresh_carries_the_new_role(
    client: Client, world: World
) -> None:
    target = world.a.members[Role.RECEPTIONIST]
    pair = await login(client, target.email)
    old_token = world.token(target)
    admin = world.headers(world.a.members[Role.ADMIN])
    response = await client.patch(
        f"/v1/users/{target.user_id}", json={"role": "owner"}, headers=admin
    )
    assert response.status == 200 and (await response.json())["role"] == "owner"
    assert await me(client, old_token) == 401
    refreshed = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert refreshed.status == 200
    body = await refreshed.json()
    assert body["role"] == "owner"
    assert await me(client, body["access_token"]) == 200


async def test_operator_tokens_without_an_account_still_work(client: Client, world: World) -> None:
    """`cadence token` mints tokens for load testers whose subject is no account."""
    token = tokens.issue(world.secret, role=Role.RECEPTIONIST, org_id=world.a.id)
    response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    assert (await response.json())["user"] is None


async def test_bad_bodies_get_422_per_field(client: Client) -> None:
    response = await client.post("/v1/auth/login", json={"email": "", "extra": 1})
    assert response.status == 422
    fields = (await response.json())["error"]["details"]["fields"]
    assert set(fields) >= {"password", "email", "$"}


async def test_a_disable_on_one_server_reaches_another_within_the_local_ttl(
    client: Client, world: World, settings: Settings, aiohttp_client: AiohttpClient
) -> None:
    """Each server keeps membership answers for LOCAL_TTL_S; a change made through another
    server (another process in production) is honoured once that short window has passed."""
    other: Client = await aiohttp_client(create_app(settings))
    target = world.a.members[Role.SPECIALIST]
    token = world.token(target)
    assert await me(other, token) == 200  # the other server now holds "active" locally
    admin = world.headers(world.a.members[Role.ADMIN])
    assert (await client.post(f"/v1/users/{target.user_id}/disable", headers=admin)).status == 200
    assert await me(client, token) == 401  # the server that made the change: at once
    deadline = time.monotonic() + LOCAL_TTL_S + 1.0
    while await me(other, token) == 200:
        assert time.monotonic() < deadline, "the other server kept accepting a disabled member"
        await asyncio.sleep(0.05)
