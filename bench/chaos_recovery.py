"""How long the service is gone after a fault: the time until a hold succeeds again on every
calendar, until a telemetry batch is stored again, and until every calendar subscriber receives
an event published after the fault (it has resumed, or was never cut off)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from bench import clinic as cl
from bench.chaos_load import Subscriber
from storage.types import Role

ATTEMPT_TIMEOUT_S = 5.0
PAUSE_S = 0.1


@dataclass
class Recovery:
    fault: str
    kind: str  # short name, for figure keys
    how: str
    at_s: float  # since the start of the day
    hold_s: float | None = None
    telemetry_s: float | None = None
    subscribers_s: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in self.__dict__.items()}


class Probe:
    """Probing requests from the runner process through the load balancer, with tokens of the
    clinic's own (a receptionist's holds, one patient's telemetry)."""

    def __init__(self, base: str, clinic: cl.Clinic, subscribers: list[Subscriber]) -> None:
        self._http = aiohttp.ClientSession(base)
        self._calendars = clinic.calendars
        self._staff = {"Authorization": f"Bearer {clinic.bearer(Role.RECEPTIONIST)}"}
        patient = clinic.patients[0]
        self._patient = {"Authorization": f"Bearer {clinic.bearer(Role.PATIENT, patient)}"}
        self._subscribers = subscribers
        self._rng = random.Random(7)
        self._turn = itertools.count()

    async def close(self) -> None:
        await self._http.close()

    async def _post(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
        try:
            async with asyncio.timeout(ATTEMPT_TIMEOUT_S):
                async with self._http.post(path, json=body, headers=headers) as r:
                    raw = await r.read()
                    return r.status, (orjson.loads(raw) if r.status < 300 and raw else None)
        except (aiohttp.ClientError, TimeoutError):
            return 0, None

    async def hold_once(self, calendar: cl.Calendar) -> bool:
        """One hold (released at once, so the slot stays free for the staff); both publish an
        availability event on the calendar's channel."""
        body = {"calendar_id": calendar.id, "start": self._rng.choice(calendar.starts)}
        status, hold = await self._post("/v1/holds", body, self._staff)
        if status != 201:
            return False
        try:
            async with asyncio.timeout(ATTEMPT_TIMEOUT_S):
                await self._http.delete(f"/v1/holds/{hold['id']}", headers=self._staff)
        except (aiohttp.ClientError, TimeoutError):
            pass  # it expires with the calendar's hold TTL
        return True

    async def hold_back(self, since: float, bound_s: float) -> float | None:
        """Until a hold succeeds on every calendar: after an actor kill only the calendars of
        the lost shard are down, and the first success elsewhere would say nothing."""
        waiting = list(self._calendars)
        while time.monotonic() - since < bound_s:
            calendar = waiting[next(self._turn) % len(waiting)]
            if await self.hold_once(calendar):
                waiting.remove(calendar)
                if not waiting:
                    return time.monotonic() - since
                continue
            await asyncio.sleep(PAUSE_S)
        return None

    async def telemetry_back(self, since: float, bound_s: float) -> float | None:
        while time.monotonic() - since < bound_s:
            event = {
                "id": str(uuid.uuid4()), "type": "pose.sample",
                "t": int(time.time() * 1000), "session_id": str(uuid.uuid4()),
                "data": {"exercise_id": str(uuid.uuid4()), "angles": {"left_knee": 90.0},
                         "visibility": 0.9},
            }  # fmt: skip
            status, _ = await self._post("/v1/telemetry", {"events": [event]}, self._patient)
            if status == 200:
                return time.monotonic() - since
            await asyncio.sleep(PAUSE_S)
        return None

    async def subscribers_back(self, since: float, fault_ms: int, bound_s: float) -> float | None:
        """Until every subscriber saw an event (or a resync) from after the fault. Each second
        it nudges the calendars still waiting with a hold, so the answer does not depend on
        when the staff happen to book there."""
        nudged = since
        while time.monotonic() - since < bound_s:
            waiting = {s.channel for s in self._subscribers if s.newest_ms < fault_ms}
            if not waiting:
                return time.monotonic() - since
            if time.monotonic() - nudged >= 1.0:
                nudged = time.monotonic()
                for calendar in self._calendars:
                    if any(calendar.id in channel for channel in waiting):
                        await self.hold_once(calendar)
            await asyncio.sleep(PAUSE_S)
        return None

    async def measure(
        self, recovery: Recovery, since: float, fault_ms: int, bound_s: float
    ) -> None:
        recovery.hold_s, recovery.telemetry_s, recovery.subscribers_s = await asyncio.gather(
            self.hold_back(since, bound_s),
            self.telemetry_back(since, bound_s),
            self.subscribers_back(since, fault_ms, bound_s),
        )
