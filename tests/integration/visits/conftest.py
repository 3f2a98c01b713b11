"""Virtual-visit fixtures: a clinic with a virtual service, an appointment between a patient and
a specialist whose times a test moves (the room's window is a function of the clock), tokens
for both parties and for strangers, and a small WebSocket helper."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest_asyncio
from aiohttp import ClientWebSocketResponse, WSMsgType, web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from storage.types import Role
from tests.integration.scheduling.conftest import Api, day_at, new_org

REPLY_TIMEOUT_S = 10.0


@dataclass
class Visit:
    api: Api
    appointment_id: str
    patient_id: str
    specialist_id: str
    calendar_id: str

    @property
    def client(self) -> TestClient[web.Request, web.Application]:
        return self.api.client

    def patient_token(self, patient_id: str | None = None) -> str:
        return self.api.token(Role.PATIENT, patient_id=uuid.UUID(patient_id or self.patient_id))

    def specialist_token(self, specialist_id: str | None = None) -> str:
        sid = uuid.UUID(specialist_id or self.specialist_id)
        return self.api.token(Role.SPECIALIST, specialist_id=sid)

    async def move(self, starts_at: datetime, minutes: int = 30) -> None:
        """Put the appointment at `starts_at` (the room's window follows the clock)."""
        async with self.client.app[DB_KEY].platform() as conn:
            await conn.execute(
                "UPDATE appointments SET starts_at = $2, ends_at = $3 WHERE id = $1",
                uuid.UUID(self.appointment_id),
                starts_at,
                starts_at + timedelta(minutes=minutes),
            )

    async def open_now(self) -> None:
        await self.move(datetime.now(UTC) + timedelta(minutes=2))

    async def get(self, token: str) -> tuple[int, Any]:
        response = await self.client.get(
            f"/v1/appointments/{self.appointment_id}/visit",
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status, await response.json()

    async def socket(self, token: str | None) -> Socket:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return Socket(await self.client.ws_connect("/v1/ws", headers=headers))


class Socket:
    """One WebSocket: `call` sends an op and returns its reply; events are kept aside."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._next = 0

    async def call(self, op: str, **fields: Any) -> dict[str, Any]:
        self._next += 1
        fid = self._next
        await self.ws.send_str(orjson.dumps({"id": fid, "op": op, **fields}).decode())
        while True:
            frame = await self.receive()
            if frame.get("id") == fid and frame["op"] in ("ok", "error"):
                return frame

    async def receive(self) -> dict[str, Any]:
        msg = await self.ws.receive(timeout=REPLY_TIMEOUT_S)
        assert msg.type is WSMsgType.TEXT, (msg.type, msg.data)
        frame: dict[str, Any] = orjson.loads(msg.data)
        if frame["op"] == "event":
            self.events.append(frame)
        return frame

    async def event(self, event_type: str) -> dict[str, Any]:
        """The next event of `event_type` (earlier ones already received count first)."""
        while True:
            for i, frame in enumerate(self.events):
                if frame["type"] == event_type:
                    return self.events.pop(i)
            await self.receive()

    async def close(self) -> None:
        await self.ws.close()


async def virtual_visit(api: Api, modality: str = "virtual") -> Visit:
    service = await api.service(modality=modality, name="Video physio")
    specialist = await api.specialist("Dr. Video")
    calendar = await api.calendar([specialist], service_id=service["id"])
    patient = await api.patient("Vera", "Video")
    appointment = await api.book_one(calendar["id"], patient, day_at(1, 10), specialist)
    return Visit(api, appointment["id"], patient, specialist, calendar["id"])


@pytest_asyncio.fixture
async def visit(client: TestClient[web.Request, web.Application]) -> Visit:
    return await virtual_visit(Api(client, await new_org(client.app)))
