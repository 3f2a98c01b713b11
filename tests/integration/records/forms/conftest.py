"""Forms fixtures: a clinic with a patient (an e-mail on file, an appointment with a specialist,
who thereby treats them), a second patient, staff and patient tokens, REST and public calls, and
the staff channel's events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server import tokens
from server.resources import DB_KEY, EVENTS_KEY, SETTINGS_KEY
from storage.db import enter_tenant, with_credentials
from storage.events import StreamPosition
from storage.types import Channel, Role

Client = TestClient[web.Request, web.Application]
# A drawn signature: the smallest valid PNG (1x1), as a signature pad would send it.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@dataclass
class Clinic:
    client: Client
    org: uuid.UUID
    patient: uuid.UUID
    other_patient: uuid.UUID
    specialist: uuid.UUID  # has an appointment with `patient`: treats them
    appointment: uuid.UUID
    starts_at: datetime
    admin_user: uuid.UUID

    def token(self, role: Role = Role.ADMIN, user: uuid.UUID | None = None, **claims: Any) -> str:
        secret = self.client.app[SETTINGS_KEY].secret
        return tokens.issue(
            secret, role=role, org_id=self.org, user_id=user or uuid.uuid4(), **claims
        )

    @property
    def admin(self) -> str:
        return self.token(Role.ADMIN, self.admin_user)

    @property
    def treating(self) -> str:
        return self.token(Role.SPECIALIST, specialist_id=self.specialist)

    def as_patient(self, patient: uuid.UUID | None = None) -> str:
        return self.token(Role.PATIENT, patient_id=patient or self.patient)

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = orjson.dumps(body)
            sent["Content-Type"] = "application/json"
        response = await self.client.request(method, path, data=data, headers=sent)
        raw = await response.read()
        return response.status, (orjson.loads(raw) if raw else None)

    async def ok(
        self, method: str, path: str, token: str, body: Any = None, expect: int = 200
    ) -> Any:
        status, answer = await self.call(method, path, token, body)
        assert status == expect, (method, path, status, answer)
        return answer

    async def position(self, channel: Channel) -> StreamPosition:
        return await self.client.app[EVENTS_KEY].position(channel.name)

    async def events(self, channel: Channel, since: StreamPosition) -> list[dict[str, Any]]:
        replay = await self.client.app[EVENTS_KEY].replay(channel.name, since)
        assert replay.recovered
        return [orjson.loads(frame) for _, frame in replay.frames]

    async def app_role(self) -> asyncpg.Connection:
        """A connection of the application role (what the server runs as), not yet in a tenant."""
        settings = self.client.app[SETTINGS_KEY]
        return await asyncpg.connect(
            with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
        )

    async def enter(self, conn: asyncpg.Connection) -> None:
        """Scope `conn`'s current transaction to this clinic."""
        await enter_tenant(conn, self.client.app[DB_KEY].seal, self.org)

    # --- a form to work with ---------------------------------------------------------------

    async def intake_template(self) -> dict[str, Any]:
        """Fields of every kind and a published intake template using them: version 1."""
        specs = [
            {"key": "pain", "label": "Pain now", "type": "scale", "min": 0, "max": 10,
             "required": True},
            {"key": "chest_pain", "label": "Chest pain on effort", "type": "yes_no",
             "red_flag": True, "required": True},
            {"key": "weight", "label": "Weight (kg)", "type": "number", "min": 20, "max": 300},
            {"key": "side", "label": "Side", "type": "choice", "options": ["left", "right"]},
            {"key": "injury_date", "label": "Date of injury", "type": "date"},
            {"key": "notes", "label": "Anything else", "type": "text"},
            {"key": "consent", "label": "I agree", "type": "signature", "required": True},
        ]  # fmt: skip
        ids = [(await self.ok("POST", "/v1/form-fields", self.admin, s, 201))["id"] for s in specs]
        template = await self.ok(
            "POST", "/v1/form-templates", self.admin,
            {"name": "Knee intake", "kind": "intake", "field_ids": ids}, 201,
        )  # fmt: skip
        version = await self.ok(
            "POST", f"/v1/form-templates/{template['id']}/publish", self.admin, None, 201
        )
        return {"template": template, "version": version, "field_ids": ids}


async def make_clinic(client: Client) -> Clinic:
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    async with client.app[DB_KEY].platform() as conn:  # the schema owner: set-up only
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ('Knee Clinic', $1) RETURNING id",
            "f-" + uuid.uuid4().hex[:12],
        )
        patients = [
            await conn.fetchval(
                # `p0:` marks a value written before encryption (read as is): set-up only.
                "INSERT INTO patients (organization_id, first_name, last_name, email)"
                " VALUES ($1, 'Ana', 'Pop', $2) RETURNING id",
                org,
                f"p0:ana{n}@example.com",
            )
            for n in range(2)
        ]
        specialist = await conn.fetchval(
            "INSERT INTO specialists (organization_id, name, timezone) VALUES ($1, 'Spec', 'UTC')"
            " RETURNING id",
            org,
        )
        service = await conn.fetchval(
            "INSERT INTO services (organization_id, name, duration_min, modality)"
            " VALUES ($1, 'Physio', 30, 'in_clinic') RETURNING id",
            org,
        )
        calendar = await conn.fetchval(
            "INSERT INTO calendars (organization_id, name, service_id, timezone,"
            " slot_interval_min, horizon_days) VALUES ($1, 'Cal', $2, 'UTC', 30, 60) RETURNING id",
            org,
            service,
        )
        appointment = await conn.fetchval(
            "INSERT INTO appointments (organization_id, calendar_id, service_id, specialist_id,"
            " patient_id, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            org, calendar, service, specialist, patients[0], starts, starts + timedelta(minutes=30),
        )  # fmt: skip
    return Clinic(
        client, org, patients[0], patients[1], specialist, appointment, starts, uuid.uuid4()
    )


@pytest_asyncio.fixture
async def clinic(client: Client) -> Clinic:
    return await make_clinic(client)
