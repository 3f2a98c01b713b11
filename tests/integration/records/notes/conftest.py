"""Notes and follow-ups fixtures: a clinic with two patients, three specialists (A treats patient
0 through an appointment, B through an admin's care-team grant, C treats no one), an admin, a
receptionist, appointments of both patients, stable user ids for every token, and the staff
channel's events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    patients: list[uuid.UUID]
    specialists: dict[str, uuid.UUID]  # "A", "B", "C"
    appointments: dict[str, uuid.UUID]  # "p0" (with A), "p0_cancelled", "p1"
    users: dict[str, uuid.UUID] = field(default_factory=dict)

    def token(self, who: str) -> str:
        """A token for "admin", "receptionist", "owner", "A"/"B"/"C" (specialists), "patient0"
        or "patient1", each with its own stable user id."""
        user = self.users.setdefault(who, uuid.uuid4())
        secret = self.client.app[SETTINGS_KEY].secret
        claims: dict[str, Any] = {}
        if who in self.specialists:
            role, claims["specialist_id"] = Role.SPECIALIST, self.specialists[who]
        elif who.startswith("patient"):
            role, claims["patient_id"] = Role.PATIENT, self.patients[int(who[-1])]
        else:
            role = Role(who)
        return tokens.issue(secret, role=role, org_id=self.org, user_id=user, **claims)

    async def call(
        self, method: str, path: str, who: str | None, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, Any]:
        headers = {} if who is None else {"Authorization": f"Bearer {self.token(who)}"}
        data = raw
        if body is not None:
            data = orjson.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        response = await self.client.request(method, path, data=data, headers=headers)
        answer = await response.read()
        return response.status, (orjson.loads(answer) if answer else None)

    async def position(self) -> StreamPosition:
        return await self.client.app[EVENTS_KEY].position(Channel.org(self.org).name)

    async def events(self, since: StreamPosition) -> list[dict[str, Any]]:
        replay = await self.client.app[EVENTS_KEY].replay(Channel.org(self.org).name, since)
        assert replay.recovered
        return [orjson.loads(frame) for _, frame in replay.frames]


async def make_clinic(client: Client) -> Clinic:
    async with client.app[DB_KEY].platform() as conn:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ('Clinic', $1) RETURNING id",
            "n-" + uuid.uuid4().hex[:12],
        )
        patients = [await _patient(conn, org) for _ in range(2)]
        specialists = {
            name: await conn.fetchval(
                "INSERT INTO specialists (organization_id, name, timezone)"
                " VALUES ($1, $2, 'UTC') RETURNING id",
                org,
                f"Dr {name}",
            )
            for name in ("A", "B", "C")
        }
        await conn.execute(
            "INSERT INTO care_team_grants (organization_id, patient_id, specialist_id)"
            " VALUES ($1, $2, $3)",
            org,
            patients[0],
            specialists["B"],
        )
        service = await conn.fetchval(
            "INSERT INTO services (organization_id, name, duration_min, modality)"
            " VALUES ($1, 'Physio', 30, 'in_clinic') RETURNING id",
            org,
        )
        calendar = await conn.fetchval(
            "INSERT INTO calendars (organization_id, name, service_id, timezone,"
            " slot_interval_min, horizon_days) VALUES ($1, 'Cal', $2, 'UTC', 30, 30) RETURNING id",
            org,
            service,
        )
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
        appointments = {}
        for i, (name, patient, status) in enumerate(
            (("p0", patients[0], "booked"), ("p0_cancelled", patients[0], "cancelled"),
             ("p1", patients[1], "booked"), ("p0_later", patients[0], "booked"))
        ):  # fmt: skip
            at = start + timedelta(hours=i)
            appointments[name] = await conn.fetchval(
                "INSERT INTO appointments (organization_id, calendar_id, service_id,"
                " specialist_id, patient_id, starts_at, ends_at, status)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                org, calendar, service, specialists["A"], patient, at,
                at + timedelta(minutes=30), status,
            )  # fmt: skip
    return Clinic(client, org, patients, specialists, appointments)


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


def assert_envelope(status: int, answer: Any, expected: int, code: str) -> dict[str, Any]:
    """A 4xx in the error envelope of PROTOCOL.md, with its code; the error object."""
    assert status == expected, answer
    assert isinstance(answer, dict) and set(answer) == {"error"}, answer
    error: dict[str, Any] = answer["error"]
    assert error["code"] == code and isinstance(error["message"], str), error
    assert isinstance(error["details"], dict)
    return error
