"""Live-calendar fixtures: an organization with a one-specialist public calendar (every day
08:00-20:00 UTC, 60-minute slots), tokens, and helpers that read the calendar's stream."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import EVENTS_KEY
from server.services import CALENDARS_KEY
from storage.events import StreamPosition
from storage.types import Channel, Role
from tests.integration.scheduling.conftest import Api, day_at, new_org, z

__all__ = ["Api", "Clinic", "day_at", "z"]


@dataclass
class Clinic:
    api: Api
    calendar_id: str
    specialist_id: str
    patient_id: str

    @property
    def client(self) -> TestClient[web.Request, web.Application]:
        return self.api.client

    async def hold(self, start: Any, role: Role = Role.ADMIN, **extra: Any) -> tuple[int, Any]:
        body = {"calendar_id": self.calendar_id, "start": z(start), **extra}
        return await self.api.call("POST", "/v1/holds", body, role=role)

    async def slots(self, frm: str, to: str) -> dict[str, Any]:
        path = f"/v1/public/calendars/{self.calendar_id}/slots?from={frm}&to={to}"
        response = await self.client.get(path)
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result

    def channel(self) -> Channel:
        return Channel.calendar(uuid.UUID(self.calendar_id))

    async def deltas_since(self, since: dict[str, str]) -> list[dict[str, Any]]:
        replay = await self.client.app[EVENTS_KEY].replay(
            self.channel().name, StreamPosition(since["offset"], since["epoch"])
        )
        assert replay.recovered
        return [orjson.loads(frame)["data"] for _, frame in replay.frames]

    async def shard_state(self) -> dict[str, Any]:
        commands = self.client.app[CALENDARS_KEY]
        pool = commands._pool  # noqa: SLF001 - tests look inside the shard
        await pool.ensure_started()
        org_id = await commands.owner(uuid.UUID(self.calendar_id))
        assert org_id is not None
        handle = pool.handle(pool.shard_for(org_id))
        result: dict[str, Any] = await handle.debug_state.remote(self.calendar_id)
        return result

    async def shard_pid(self) -> int:
        commands = self.client.app[CALENDARS_KEY]
        pool = commands._pool  # noqa: SLF001
        await pool.ensure_started()
        org_id = await commands.owner(uuid.UUID(self.calendar_id))
        assert org_id is not None
        handle = pool.handle(pool.shard_for(org_id))
        result: int = await handle.pid.remote()
        return result


async def make_clinic(client: TestClient[web.Request, web.Application], **calendar: Any) -> Clinic:
    api = Api(client, await new_org(client.app))
    specialist = await api.specialist()
    created = await api.calendar([specialist], **calendar)
    patient = await api.patient()
    return Clinic(api, created["id"], specialist, patient)


@pytest_asyncio.fixture
async def clinic(client: TestClient[web.Request, web.Application]) -> Clinic:
    return await make_clinic(client)
