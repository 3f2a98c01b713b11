"""Messages fixtures: a clinic with two patients (a specialist treats the first), staff and
patient tokens with stable user ids, and its channels' events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server import tokens
from server.resources import DB_KEY, EVENTS_KEY, SETTINGS_KEY
from storage.events import StreamPosition
from storage.types import Channel, Role

Client = TestClient[web.Request, web.Application]


@dataclass
class Clinic:
    client: Client
    org: uuid.UUID
    patient: uuid.UUID
    other_patient: uuid.UUID
    specialist: uuid.UUID  # treats `patient` (an admin's grant), not `other_patient`
    staff_user: uuid.UUID
    patient_user: uuid.UUID

    def token(self, role: Role, user: uuid.UUID | None = None, **claims: Any) -> str:
        secret = self.client.app[SETTINGS_KEY].secret
        return tokens.issue(
            secret, role=role, org_id=self.org, user_id=user or uuid.uuid4(), **claims
        )

    def as_patient(self, patient: uuid.UUID | None = None) -> str:
        return self.token(Role.PATIENT, self.patient_user, patient_id=patient or self.patient)

    async def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        response = await self.client.request(method, path, data=data, headers=headers)
        raw = await response.read()
        return response.status, (orjson.loads(raw) if raw else None)

    async def position(self, channel: Channel) -> StreamPosition:
        return await self.client.app[EVENTS_KEY].position(channel.name)

    async def events(self, channel: Channel, since: StreamPosition) -> list[dict[str, Any]]:
        replay = await self.client.app[EVENTS_KEY].replay(channel.name, since)
        assert replay.recovered
        return [orjson.loads(frame) for _, frame in replay.frames]


async def make_clinic(client: Client) -> Clinic:
    async with client.app[DB_KEY].platform() as conn:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ('Clinic', $1) RETURNING id",
            "m-" + uuid.uuid4().hex[:12],
        )
        patients = [await _patient(conn, org) for _ in range(2)]
        specialist = await conn.fetchval(
            "INSERT INTO specialists (organization_id, name, timezone) VALUES ($1, 'Spec', 'UTC')"
            " RETURNING id",
            org,
        )
        await conn.execute(
            "INSERT INTO care_team_grants (organization_id, patient_id, specialist_id)"
            " VALUES ($1, $2, $3)",
            org,
            patients[0],
            specialist,
        )
    return Clinic(client, org, patients[0], patients[1], specialist, uuid.uuid4(), uuid.uuid4())


async def _patient(conn: asyncpg.Connection, org: uuid.UUID) -> uuid.UUID:
    found: uuid.UUID = await conn.fetchval(
        "INSERT INTO patients (organization_id, first_name, last_name)"
        " VALUES ($1, 'Pat', 'Ient') RETURNING id",
        org,
    )
    return found


@pytest_asyncio.fixture
async def clinic(client: Client) -> Clinic:
    return await make_clinic(client)
