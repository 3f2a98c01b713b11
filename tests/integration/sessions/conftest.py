"""Fixtures of the guided-session tests: the real app on a real port (REST + WebSocket), a
clinic with a published plan assigned to a patient by the clinic's specialist, and a small
JSON WebSocket client that keeps the events it sees."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import pytest_asyncio
import websockets
from aiohttp.test_utils import TestServer

from actors.pose._worker import WorkerOptions
from pipelines.pose import SyntheticOptions, SyntheticSet, synthesize_set
from server.app import create_app
from server.resources import DB_KEY
from server.services import POSE_OPTIONS_KEY, SESSIONS_KEY
from server.settings import Settings
from tests.integration.telerehab.conftest import Clinic, make_clinic

# Quick presence checks so a dropped connection pauses within about a second.
OPTIONS = WorkerOptions(tick_s=0.1, presence_every_s=0.25, drop_after_s=0.5, grace_s=30.0)


@dataclass
class Live:
    server: TestServer
    http: aiohttp.ClientSession
    clinic: Clinic
    assignment_id: str
    exercises: dict[str, str]  # slug -> exercise id of the plan

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}/v1/ws"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"

    async def post(self, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
        async with self.http.post(self.url(path), json=body, headers=headers) as r:
            return r.status, await r.json()

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        async with self.http.get(self.url(path), headers=headers) as r:
            return r.status, await r.json()

    async def start(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        status, body = await self.post(
            "/v1/telerehab/sessions",
            headers or self.clinic.patient(0),
            {"assignment_id": self.assignment_id},
        )
        assert status == 201, body
        return dict(body)

    @property
    def commands(self) -> Any:
        return self.server.app[SESSIONS_KEY]

    async def peer(self, headers: dict[str, str]) -> Peer:
        ws = await websockets.connect(self.ws_url, additional_headers=headers, max_size=2**22)
        return Peer(ws)


class Peer:
    """A websockets client: `call` waits for its reply; events are kept in `events`."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self._ids = 0
        self.events: list[dict[str, Any]] = []
        self.ephemeral: list[dict[str, Any]] = []  # `ephemeral` frames (never stored)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.replied: list[Any] = []  # reply ids, in the order they arrived
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = orjson.loads(raw)
                if frame.get("op") == "event":
                    self.events.append(frame)
                    self._changed.set()
                elif frame.get("op") == "ephemeral":
                    self.ephemeral.append(frame)
                elif (fut := self._replies.pop(frame.get("id"), None)) is not None:
                    self.replied.append(frame["id"])
                    fut.set_result(frame)
        except websockets.ConnectionClosed:
            pass

    def send_nowait(self, frame: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        self._ids += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[self._ids] = fut
        asyncio.ensure_future(self.ws.send(orjson.dumps({"id": self._ids, **frame}).decode()))
        return fut

    async def call(self, op: str, within: float = 10.0, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(within):
            return await self.send_nowait({"op": op, **fields})

    async def binary(self, header: dict[str, Any], payload: bytes, within: float = 10.0) -> Any:
        fut = await self.binary_nowait(header, payload)
        async with asyncio.timeout(within):
            return await fut

    async def binary_nowait(
        self, header: dict[str, Any], payload: bytes
    ) -> asyncio.Future[dict[str, Any]]:
        """Send a binary frame; the future of its reply (without waiting for it)."""
        self._ids += 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[self._ids] = fut
        head = orjson.dumps({"id": self._ids, **header})
        await self.ws.send(len(head).to_bytes(4, "big") + head + payload)
        return fut

    def types(self, session_id: str | None = None) -> list[str]:
        return [
            e["type"]
            for e in self.events
            if session_id is None or e["data"].get("session_id") == session_id
        ]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], within: float = 10.0
    ) -> dict[str, Any]:
        seen = 0
        async with asyncio.timeout(within):
            while True:
                for e in self.events[seen:]:
                    if predicate(e):
                        return e
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


def frames(s: SyntheticSet, start: int, stop: int) -> list[dict[str, Any]]:
    return [
        {"t": float(s.t_ms[i]), "landmarks": s.landmarks[i].tolist()} for i in range(start, stop)
    ]


def squats(reps: int = 10, seed: int = 3, **kw: Any) -> SyntheticSet:
    return synthesize_set(
        "squat", SyntheticOptions(reps=reps, aspect_ratio=16 / 9, noise_deg=1.0, **kw), seed=seed
    )


async def stream(
    peer: Peer, session_id: str, s: SyntheticSet, *, batch: int = 10, start: int = 0,
    stop: int | None = None, pace_s: float = 0.0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Send frames `start..stop` as `pose` ops of `batch` frames; returns the replies."""
    replies = []
    stop = len(s.t_ms) if stop is None else stop
    for i in range(start, stop, batch):
        replies.append(
            await peer.call("pose", session_id=session_id, aspect=s.aspect_ratio,
                            frames=frames(s, i, min(i + batch, stop)))
        )  # fmt: skip
        if pace_s:
            await asyncio.sleep(pace_s)
    return replies


def plan_body(clinic: Clinic) -> dict[str, Any]:
    lib = clinic.library
    return {
        "name": f"Session plan {uuid.uuid4().hex[:6]}",
        "sessions": [
            {
                "name": "A",
                "exercises": [
                    {"exercise_id": str(lib["squat"]), "sets": 1, "reps": 10, "rest_s": 1},
                    {"exercise_id": str(lib["heel_raise"]), "sets": 1, "reps": 5, "rest_s": 0},
                ],
            }
        ],
    }


@pytest_asyncio.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings)
    app[POSE_OPTIONS_KEY] = OPTIONS
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    http = aiohttp.ClientSession()
    try:
        clinic = await make_clinic(settings, app[DB_KEY])
        probe = Live(server, http, clinic, "", {})
        status, plan = await probe.post("/v1/treatment-plans", clinic.admin, plan_body(clinic))
        assert status == 201, plan
        status, body = await probe.post(f"/v1/treatment-plans/{plan['id']}/publish", clinic.admin)
        assert status == 200, body
        # The specialist treats patient 0 by an admin's grant, and the patient agreed to camera
        # sessions (without either, assigning and starting are refused: tests/security).
        patient0 = clinic.patients[0]
        status, body = await probe.post(f"/v1/patients/{patient0}/care-team", clinic.admin,
                                        {"specialist_id": str(clinic.specialist_id)})  # fmt: skip
        assert status == 201, body
        status, body = await probe.post(
            f"/v1/patients/{patient0}/consents",
            clinic.patient(0),
            {"purpose": "telerehab_camera", "policy_version": "v1"},
        )
        assert status == 201, body
        today = datetime.now(UTC).date().isoformat()
        status, assignment = await probe.post(
            f"/v1/patients/{clinic.patients[0]}/plan-assignments",
            clinic.specialist,
            {"plan_id": plan["id"], "frequency": {"weekdays": [1, 3, 5]}, "starts_on": today},
        )
        assert status == 201, assignment
        exercises = {slug: str(clinic.library[slug]) for slug in ("squat", "heel_raise")}
        yield Live(server, http, clinic, assignment["id"], exercises)
    finally:
        await http.close()
        await server.close()
