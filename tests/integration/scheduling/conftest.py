"""Scheduling fixtures: a fresh organization per test, tokens per role, and a small API client
that sets up a calendar whose specialists work every day 08:00-20:00 UTC (so tests do not depend
on today's weekday or time)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server import tokens
from server.resources import DB_KEY, EVENTS_KEY, SETTINGS_KEY
from storage.events import StreamPosition
from storage.types import Channel, Role

EVERY_DAY = [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(1, 8)]


def day_at(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    """A UTC instant `days_ahead` days from today at hour:minute."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days_ahead, hours=hour, minutes=minute)


def z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Api:
    client: TestClient[web.Request, web.Application]
    org_id: uuid.UUID

    def token(self, role: Role = Role.ADMIN, **claims: Any) -> str:
        secret = self.client.app[SETTINGS_KEY].secret
        return tokens.issue(secret, role=role, org_id=self.org_id, user_id=uuid.uuid4(), **claims)

    async def call(
        self, method: str, path: str, body: Any = None, role: Role = Role.ADMIN, **claims: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token(role, **claims)}"}
        data = None if body is None else orjson.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json"
        response = await self.client.request(method, path, data=data, headers=headers)
        text = await response.read()
        return response.status, (orjson.loads(text) if text else None)

    async def ok(
        self,
        method: str,
        path: str,
        body: Any = None,
        role: Role = Role.ADMIN,
        expect: int = 200,
        **claims: Any,
    ) -> Any:
        status, data = await self.call(method, path, body, role, **claims)
        assert status == expect, (status, data)
        return data

    async def service(self, **overrides: Any) -> dict[str, Any]:
        body = {
            "name": "Physio",
            "duration_min": 60,
            "modality": "in_clinic",
            "price": {"amount": 20000, "currency": "RON"},
            **overrides,
        }
        created: dict[str, Any] = await self.ok("POST", "/v1/services", body, expect=201)
        return created

    async def specialist(self, name: str = "Spec", hours: Any = None) -> str:
        created = await self.ok(
            "POST", "/v1/specialists", {"name": name, "timezone": "UTC"}, expect=201
        )
        sid: str = created["id"]
        await self.ok(
            "PUT",
            f"/v1/specialists/{sid}/weekly-hours",
            {"hours": EVERY_DAY if hours is None else hours},
        )
        return sid

    async def calendar(
        self, specialists: list[str], service_id: str | None = None, **overrides: Any
    ) -> dict[str, Any]:
        if service_id is None:
            service_id = (await self.service())["id"]
        body = {
            "name": "Cal",
            "service_id": service_id,
            "timezone": "UTC",
            "public": True,
            "slot_interval_min": 60,
            "horizon_days": 120,
            "assignment": "priority",
            "specialists": [{"id": s, "priority": i} for i, s in enumerate(specialists)],
            **overrides,
        }
        created: dict[str, Any] = await self.ok("POST", "/v1/calendars", body, expect=201)
        return created

    async def patient(self, first: str = "Pat", last: str = "Ient", **extra: Any) -> str:
        body = {"first_name": first, "last_name": last, **extra}
        created = await self.ok("POST", "/v1/patients", body, role=Role.RECEPTIONIST, expect=201)
        pid: str = created["id"]
        return pid

    async def book(
        self,
        calendar_id: str,
        patient_id: str,
        start: datetime,
        specialist_id: str | None = None,
        occurrences: int = 1,
    ) -> tuple[int, Any]:
        body = {
            "calendar_id": calendar_id,
            "patient_id": patient_id,
            "start": z(start),
            "occurrences": occurrences,
            "specialist_id": specialist_id,
        }
        return await self.call("POST", "/v1/appointments/series", body, role=Role.RECEPTIONIST)

    async def book_one(
        self, calendar_id: str, patient_id: str, start: datetime, specialist_id: str | None = None
    ) -> dict[str, Any]:
        status, data = await self.book(calendar_id, patient_id, start, specialist_id)
        assert status == 201, (status, data)
        appointment: dict[str, Any] = data["appointments"][0]
        return appointment

    async def position(self, channel: Channel) -> StreamPosition:
        return await self.client.app[EVENTS_KEY].position(channel.name)

    async def events_since(self, channel: Channel, since: StreamPosition) -> list[dict[str, Any]]:
        replay = await self.client.app[EVENTS_KEY].replay(channel.name, since)
        assert replay.recovered
        return [orjson.loads(frame) for _, frame in replay.frames]


async def new_org(app: web.Application) -> uuid.UUID:
    async with app[DB_KEY].platform() as conn:
        org: uuid.UUID = await conn.fetchval(
            "INSERT INTO organizations (name, slug, timezone) VALUES ('Clinic', $1, 'UTC')"
            " RETURNING id",
            "s-" + uuid.uuid4().hex[:12],
        )
    return org


@pytest_asyncio.fixture
async def api(client: TestClient[web.Request, web.Application]) -> Api:
    return Api(client, await new_org(client.app))


@pytest_asyncio.fixture
async def other(client: TestClient[web.Request, web.Application]) -> Api:
    """A second, unrelated organization on the same server."""
    return Api(client, await new_org(client.app))
