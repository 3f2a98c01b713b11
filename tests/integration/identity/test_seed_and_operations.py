"""The demo seed's logins, the `cadence partitions` command, and the published contract."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.cli import main
from server.resources import DB_KEY
from server.seed import seed_demo

Client = TestClient[web.Request, web.Application]


async def test_every_demo_login_signs_in_with_its_role(client: Client) -> None:
    demo = await seed_demo(client.app[DB_KEY])
    roles = sorted(u["role"] for u in demo["users"])
    # No platform superadmin: the demo's printed logins must not own every clinic.
    assert roles == sorted(
        ["admin", "receptionist", "specialist", "specialist", "owner", "patient", "patient"]
    )
    for user in demo["users"]:
        response = await client.post(
            "/v1/auth/login", json={"email": user["email"], "password": user["password"]}
        )
        assert response.status == 200, user["email"]
        body = await response.json()
        assert body["role"] == user["role"] and body["user_id"] == user["user_id"]
        assert body["organization_id"] == demo["organization_id"]
    second = await seed_demo(client.app[DB_KEY])
    assert second["organization_id"] != demo["organization_id"]


def test_partitions_command_covers_every_partitioned_table(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def partitioned() -> list[str]:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS partition_probe (
                     organization_id uuid, created_at timestamptz NOT NULL
                   ) PARTITION BY RANGE (created_at)"""
            )
            rows = await conn.fetch(
                "SELECT inhrelid::regclass::text AS name FROM pg_inherits "
                "WHERE inhparent = 'partition_probe'::regclass"
            )
            return [r["name"] for r in rows]
        finally:
            await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DROP TABLE IF EXISTS partition_probe")
        finally:
            await conn.close()

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        assert asyncio.run(partitioned()) == []
        assert main(["partitions", "--months", "6"]) == 0
        created = json.loads(capsys.readouterr().out)["created"]
        assert created["partition_probe"] == 7  # this month and six ahead
        assert "audit_log" in created
        assert len(asyncio.run(partitioned())) == 7
        assert main(["partitions", "--months", "6"]) == 0  # idempotent
        assert json.loads(capsys.readouterr().out)["created"]["partition_probe"] == 0
    finally:
        asyncio.run(drop())


async def test_openapi_documents_identity_bodies_and_roles(client: Client) -> None:
    document = await (await client.get("/v1/openapi.json")).json()
    login = document["paths"]["/v1/auth/login"]["post"]
    assert login["security"] == []
    assert "password" in login["requestBody"]["content"]["application/json"]["schema"]["required"]
    assert {"401", "422", "429"} <= set(login["responses"])
    users = document["paths"]["/v1/users"]["post"]
    assert users["x-roles"] == ["admin"]
