"""Gateway fixtures: the real app on a real port, real Redis, real Postgres rows for the channels
(an organization with a public and a private calendar and a patient), and a tiny JSON ws client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import pytest
import pytest_asyncio
import websockets
from aiohttp import web
from aiohttp.test_utils import TestServer

from realtime import Gateway, Limits
from server import tokens
from server.app import create_app
from server.gateway import GATEWAY_KEY, LIMITS_KEY
from server.resources import DB_KEY, EVENTS_KEY
from server.settings import Settings
from storage.events import EventLog
from storage.types import Role


@dataclass(frozen=True)
class Clinic:
    org_id: uuid.UUID
    public_calendar: uuid.UUID
    private_calendar: uuid.UUID
    patient_id: uuid.UUID


async def make_clinic(app: web.Application) -> Clinic:
    async with app[DB_KEY].platform() as conn:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ('Clinic', $1) RETURNING id",
            "c-" + uuid.uuid4().hex[:12],
        )
        service = await conn.fetchval(
            "INSERT INTO services (organization_id, name, duration_min, modality) "
            "VALUES ($1, 'Physio', 30, 'in_clinic') RETURNING id",
            org,
        )
        calendars = []
        for public in (True, False):
            calendars.append(
                await conn.fetchval(
                    "INSERT INTO calendars (organization_id, name, service_id, timezone, public,"
                    " slot_interval_min, horizon_days) VALUES ($1, 'Cal', $2, 'UTC', $3, 15, 30)"
                    " RETURNING id",
                    org,
                    service,
                    public,
                )
            )
        patient = await conn.fetchval(
            "INSERT INTO patients (organization_id, first_name, last_name)"
            " VALUES ($1, 'Pat', 'Ient') RETURNING id",
            org,
        )
    return Clinic(org, calendars[0], calendars[1], patient)


class Server:
    """One running app: its ws URL, its gateway, token minting and publishing."""

    def __init__(self, test_server: TestServer, settings: Settings) -> None:
        self._ts = test_server
        self.settings = settings
        self.app = test_server.app
        self.url = f"ws://127.0.0.1:{test_server.port}/v1/ws"

    @property
    def gateway(self) -> Gateway:
        return self.app[GATEWAY_KEY]

    @property
    def events(self) -> EventLog:
        return self.app[EVENTS_KEY]

    def token(
        self,
        role: Role,
        org_id: uuid.UUID | None,
        *,
        patient_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        ttl_s: int = 900,
    ) -> str:
        return tokens.issue(
            self.settings.secret,
            role=role,
            org_id=org_id,
            patient_id=patient_id,
            user_id=user_id,
            ttl_s=ttl_s,
        )

    async def close(self) -> None:
        await self._ts.close()


class ServerFactory(Protocol):
    """The `start_server` fixture: one more app on a real port, with these limits and settings."""

    async def __call__(self, limits: Limits | None = None, **overrides: Any) -> Server: ...


@pytest_asyncio.fixture
async def start_server(settings: Settings) -> AsyncIterator[ServerFactory]:
    started: list[Server] = []

    async def start(limits: Limits | None = None, **overrides: Any) -> Server:
        app = create_app(Settings(**{**_fields(settings), **overrides}))
        if limits is not None:
            app[LIMITS_KEY] = limits
        ts = TestServer(app, host="127.0.0.1")
        await ts.start_server()
        server = Server(ts, settings)
        started.append(server)
        return server

    yield start
    for server in started:
        await server.close()


def _fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


@pytest_asyncio.fixture
async def server(start_server: ServerFactory) -> Server:
    return await start_server(limits=Limits(close_timeout_s=1.0))


@pytest_asyncio.fixture
async def clinic(server: Server) -> Clinic:
    return await make_clinic(server.app)


class Peer:
    """A websockets client speaking the JSON protocol."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self._ids = 0
        self.pending: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any]) -> int:
        self._ids += 1
        await self.ws.send(orjson.dumps({"id": self._ids, **frame}).decode())
        return self._ids

    async def recv(self, within: float = 5.0) -> dict[str, Any]:
        if self.pending:
            return self.pending.pop(0)
        async with asyncio.timeout(within):
            frame: dict[str, Any] = orjson.loads(await self.ws.recv())
            return frame

    async def call(self, op: str, within: float = 5.0, **fields: Any) -> dict[str, Any]:
        """Send and wait for the reply with the same id (events before it are kept)."""
        fid = await self.send({"op": op, **fields})
        kept: list[dict[str, Any]] = []
        async with asyncio.timeout(within):
            while True:
                frame: dict[str, Any] = orjson.loads(await self.ws.recv())
                if frame.get("id") == fid and frame.get("op") in ("ok", "error"):
                    self.pending = self.pending + kept
                    return frame
                kept.append(frame)

    async def closed_with(self, within: float = 5.0) -> int | None:
        async with asyncio.timeout(within):
            try:
                while True:
                    await self.ws.recv()
            except websockets.ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

    async def close(self) -> None:
        await self.ws.close()


class Connect(Protocol):
    """The `connect` fixture: a Peer on `url`, closed at the end of the test."""

    async def __call__(self, url: str, token: str | None = None, **kwargs: Any) -> Peer: ...


@pytest_asyncio.fixture
async def connect() -> AsyncIterator[Connect]:
    peers: list[Peer] = []

    async def open_peer(url: str, token: str | None = None, **kwargs: Any) -> Peer:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        ws = await websockets.connect(url, additional_headers=headers, max_size=2**22, **kwargs)
        peer = Peer(ws)
        peers.append(peer)
        return peer

    yield open_peer
    for peer in peers:
        await peer.ws.close()


@pytest.fixture
def channel() -> Callable[[str, uuid.UUID], str]:
    return lambda kind, ident: f"{kind}:{ident}"
