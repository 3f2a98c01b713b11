"""A clinic set up through the REST API of a running server (a replica, the load balancer or an
in-process app on a real port): an organization, one specialist working every day 08:00-20:00
UTC, a public calendar with 60-minute slots; and that API as the clinic's admin."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson

from server import tokens
from storage.types import Role

SECRET = "test-secret-" + "x" * 40
EVERY_DAY = [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(1, 8)]


def z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def slot(i: int) -> datetime:
    """The i-th hour of the calendar's open time, from the day after tomorrow on."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=2 + i // 12, hours=8 + i % 12)


class Rest:
    """REST calls with one role's token of the organization."""

    def __init__(
        self, http: aiohttp.ClientSession, base: str, org: uuid.UUID, role: Role = Role.ADMIN
    ) -> None:
        self._http, self._base, self.org = http, base, org
        token = tokens.issue(SECRET, role=role, org_id=org, user_id=uuid.uuid4())
        self._headers = {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        async with self._http.request(
            method, self._base + path, json=body, headers={**self._headers, **(headers or {})}
        ) as response:
            raw = await response.read()
            return response.status, (orjson.loads(raw) if raw else None)

    async def ok(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, data = await self.call(method, path, body)
        assert status == expect, (method, path, status, data)
        return data


@dataclass(frozen=True)
class Clinic:
    rest: Rest
    org: uuid.UUID
    calendar: str
    specialist: str


async def new_org(dsn: str) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        org: uuid.UUID = await conn.fetchval(
            "INSERT INTO organizations (name, slug, timezone) VALUES ('Clinic', $1, 'UTC')"
            " RETURNING id",
            "so-" + uuid.uuid4().hex[:12],
        )
        return org
    finally:
        await conn.close()


async def make_clinic(http: aiohttp.ClientSession, base: str, org: uuid.UUID) -> Clinic:
    rest = Rest(http, base, org)
    specialist = await rest.ok("POST", "/v1/specialists", {"name": "S", "timezone": "UTC"}, 201)
    await rest.ok("PUT", f"/v1/specialists/{specialist['id']}/weekly-hours", {"hours": EVERY_DAY})
    service = await rest.ok(
        "POST",
        "/v1/services",
        {
            "name": "Physio",
            "duration_min": 60,
            "modality": "in_clinic",
            "price": {"amount": 20000, "currency": "RON"},
        },
        201,
    )
    calendar = await rest.ok(
        "POST",
        "/v1/calendars",
        {
            "name": "Cal",
            "service_id": service["id"],
            "timezone": "UTC",
            "public": True,
            "slot_interval_min": 60,
            "horizon_days": 60,
            "assignment": "priority",
            "specialists": [{"id": specialist["id"], "priority": 0}],
        },
        201,
    )
    return Clinic(rest, org, str(calendar["id"]), str(specialist["id"]))
