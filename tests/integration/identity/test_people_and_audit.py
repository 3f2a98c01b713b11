"""Organizations and people managed over REST; each mutation leaves exactly one audit row with
the right diff; the audit log is append-only for the application role."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY, SETTINGS_KEY
from storage.db import enter_tenant, with_credentials
from storage.types import Role
from tests.integration.identity._world import World, audit_rows

Client = TestClient[web.Request, web.Application]


async def test_superadmin_creates_lists_and_edits_organizations(
    client: Client, world: World
) -> None:
    root = world.headers(world.superadmin)
    slug = f"clinic-{uuid.uuid4().hex[:8]}"
    body = {"name": "Kinetic", "slug": slug, "timezone": "Europe/Bucharest", "language": "ro"}
    response = await client.post("/v1/organizations", json=body, headers=root)
    assert response.status == 201
    org = await response.json()
    assert {k: org[k] for k in body} == body
    assert org["created_at"].endswith("Z")

    duplicate = await client.post("/v1/organizations", json=body, headers=root)
    assert duplicate.status == 409
    bad_zone = await client.post(
        "/v1/organizations", json={**body, "slug": slug + "x", "timezone": "Mars/Olympus"},
        headers=root,
    )  # fmt: skip
    assert bad_zone.status == 422

    response = await client.patch(
        f"/v1/organizations/{org['id']}", json={"name": "Kinetic Plus"}, headers=root
    )
    assert response.status == 200 and (await response.json())["name"] == "Kinetic Plus"

    rows = await audit_rows(client.app[DB_KEY], entity="organization", entity_id=org["id"])
    assert [r["action"] for r in rows] == ["organization.create", "organization.update"]
    assert rows[0]["diff"]["slug"] == {"before": None, "after": slug}
    assert rows[1]["diff"] == {"name": {"before": "Kinetic", "after": "Kinetic Plus"}}
    assert rows[1]["actor_user_id"] == world.superadmin.user_id
    assert rows[1]["actor_role"] == "superadmin"

    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/v1/organizations", params=query, headers=root)).json()
        seen += [o["id"] for o in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert {str(world.a.id), str(world.b.id), org["id"]} <= set(seen)
    assert len(seen) == len(set(seen))


async def test_superadmin_seats_the_first_admin_of_an_organization(
    client: Client, world: World
) -> None:
    root = world.headers(world.superadmin)
    email = f"first-admin-{uuid.uuid4().hex[:6]}@example.test"
    response = await client.post(
        f"/v1/organizations/{world.b.id}/users",
        json={"email": email, "role": "admin", "password": "a long password"},
        headers=root,
    )
    assert response.status == 201
    login = await client.post(
        "/v1/auth/login", json={"email": email, "password": "a long password"}
    )
    assert login.status == 200 and (await login.json())["organization_id"] == str(world.b.id)
    missing = await client.post(
        f"/v1/organizations/{uuid.uuid4()}/users", json={"email": email, "role": "admin"},
        headers=root,
    )  # fmt: skip
    assert missing.status == 404


async def test_an_admin_edits_its_own_organization_only(client: Client, world: World) -> None:
    admin = world.headers(world.a.members[Role.ADMIN])
    own = await client.patch(
        f"/v1/organizations/{world.a.id}", json={"language": "de"}, headers=admin
    )
    assert own.status == 200
    foreign = await client.patch(
        f"/v1/organizations/{world.b.id}", json={"language": "de"}, headers=admin
    )
    assert foreign.status == 404
    assert (await client.get(f"/v1/organizations/{world.b.id}", headers=admin)).status == 404
    patient = world.headers(world.a.members[Role.PATIENT])
    assert (await client.get(f"/v1/organizations/{world.a.id}", headers=patient)).status == 200


async def test_every_people_mutation_leaves_one_audit_row_with_its_diff(
    client: Client, world: World
) -> None:
    db = client.app[DB_KEY]
    admin_member = world.a.members[Role.ADMIN]
    admin = world.headers(admin_member)
    email = f"new-{uuid.uuid4().hex[:6]}@example.test"
    response = await client.post(
        "/v1/users",
        json={"email": email, "role": "specialist", "password": "a long password",
              "display_name": "Dana",
              "specialist_id": str(world.a.members[Role.SPECIALIST].specialist_id)},
        headers=admin,
        )  # fmt: skip
    assert response.status == 201
    user = await response.json()
    assert user["role"] == "specialist" and user["disabled"] is False

    patched = await client.patch(
        f"/v1/users/{user['id']}", json={"role": "receptionist"}, headers=admin
    )
    assert patched.status == 200
    assert (await patched.json())["specialist_id"] is None  # the link left with the role
    assert (await client.post(f"/v1/users/{user['id']}/disable", headers=admin)).status == 200
    assert (await client.post(f"/v1/users/{user['id']}/disable", headers=admin)).status == 200
    assert (await client.post(f"/v1/users/{user['id']}/enable", headers=admin)).status == 200

    rows = await audit_rows(db, entity="user", entity_id=user["id"])
    assert [r["action"] for r in rows] == [
        "user.create",
        "user.update",
        "user.disable",
        "user.enable",
    ]  # fmt: skip  (the repeated disable changed nothing and wrote nothing)
    assert all(r["organization_id"] == world.a.id for r in rows)
    assert all(r["actor_user_id"] == admin_member.user_id for r in rows)
    assert all(r["ip"] is not None and r["request_id"] for r in rows)
    create, update, disable, enable = (r["diff"] for r in rows)
    assert create["email"] == {"before": None, "after": "***"}  # masked
    assert create["role"] == {"before": None, "after": "specialist"}
    assert update["role"] == {"before": "specialist", "after": "receptionist"}
    assert update["specialist_id"]["after"] is None
    assert set(update) == {"role", "specialist_id"}
    assert set(disable) == {"disabled_at"} and disable["disabled_at"]["before"] is None
    assert enable["disabled_at"]["after"] is None


async def test_listing_people_pages_through_the_organization_only(
    client: Client, world: World
) -> None:
    admin = world.headers(world.a.members[Role.ADMIN])
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/users", params=query, headers=admin)
        assert response.status == 200
        page = await response.json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert {u["id"] for u in seen} == {str(m.user_id) for m in world.a.members.values()}
    bad = await client.get("/v1/users", params={"cursor": "not-a-cursor"}, headers=admin)
    assert bad.status == 422
    assert (await client.get("/v1/users", params={"limit": "0"}, headers=admin)).status == 422


async def test_an_admin_cannot_touch_another_organizations_people(
    client: Client, world: World
) -> None:
    admin = world.headers(world.a.members[Role.ADMIN])
    other = world.b.members[Role.RECEPTIONIST].user_id
    assert (await client.get(f"/v1/users/{other}", headers=admin)).status == 404
    assert (await client.post(f"/v1/users/{other}/disable", headers=admin)).status == 404
    patched = await client.patch(f"/v1/users/{other}", json={"role": "admin"}, headers=admin)
    assert patched.status == 404
    assert await audit_rows(client.app[DB_KEY], entity="user", entity_id=str(other)) == []


async def test_an_admin_cannot_lock_itself_out(client: Client, world: World) -> None:
    admin = world.a.members[Role.ADMIN]
    headers = world.headers(admin)
    assert (await client.post(f"/v1/users/{admin.user_id}/disable", headers=headers)).status == 409
    demote = await client.patch(
        f"/v1/users/{admin.user_id}", json={"role": "patient"}, headers=headers
    )
    assert demote.status == 409


async def test_links_must_fit_the_role(client: Client, world: World) -> None:
    admin = world.headers(world.a.members[Role.ADMIN])
    response = await client.post(
        "/v1/users",
        json={"email": "x@example.test", "role": "owner", "patient_id": str(uuid.uuid4())},
        headers=admin,
    )
    assert response.status == 422
    assert "patient_id" in (await response.json())["error"]["details"]["fields"]


async def test_audit_log_is_filterable_and_scoped(client: Client, world: World) -> None:
    admin_a = world.a.members[Role.ADMIN]
    headers = world.headers(admin_a)
    target = world.a.members[Role.OWNER].user_id
    await client.post(f"/v1/users/{target}/disable", headers=headers)
    await client.post(f"/v1/users/{target}/enable", headers=headers)
    await client.post(
        f"/v1/users/{world.b.members[Role.OWNER].user_id}/disable",
        headers=world.headers(world.b.members[Role.ADMIN]),
    )

    response = await client.get(
        "/v1/audit", params={"entity": "user", "entity_id": str(target)}, headers=headers
    )
    entries = (await response.json())["data"]
    assert [e["action"] for e in entries] == ["user.enable", "user.disable"]  # newest first
    assert entries[0]["actor"] == {"user_id": str(admin_a.user_id), "role": "admin"}

    only = await client.get(
        "/v1/audit", params={"action": "user.disable", "actor": str(admin_a.user_id)},
        headers=headers,
    )  # fmt: skip
    assert [e["entity_id"] for e in (await only.json())["data"]] == [str(target)]

    everything = await (await client.get("/v1/audit", headers=headers)).json()
    assert everything["data"] and all(
        e["organization_id"] == str(world.a.id) for e in everything["data"]
    )
    future = await client.get("/v1/audit", params={"from": "2999-01-01T00:00:00Z"}, headers=headers)
    assert (await future.json())["data"] == []
    bad = await client.get("/v1/audit", params={"from": "yesterday"}, headers=headers)
    assert bad.status == 422

    root = world.headers(world.superadmin)
    across = await client.get(
        "/v1/audit", params={"action": "user.disable", "limit": "200"}, headers=root
    )
    orgs = {e["organization_id"] for e in (await across.json())["data"]}
    assert {str(world.a.id), str(world.b.id)} <= orgs


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE {partition} SET action = 'forged'",
        "DELETE FROM {partition}",
    ],
)
async def test_the_application_role_cannot_rewrite_history(
    client: Client, world: World, statement: str
) -> None:
    await client.post(
        f"/v1/users/{world.a.members[Role.OWNER].user_id}/disable",
        headers=world.headers(world.a.members[Role.ADMIN]),
    )
    settings = client.app[SETTINGS_KEY]
    async with client.app[DB_KEY].platform() as conn:
        partition = await conn.fetchval(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'audit_log'::regclass ORDER BY 1 LIMIT 1"""
        )
    conn = await asyncpg.connect(
        with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    )
    try:
        async with conn.transaction():
            await enter_tenant(conn, client.app[DB_KEY].seal, world.a.id)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement.format(partition=partition))
    finally:
        await conn.close()
