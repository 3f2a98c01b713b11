"""The invariants under load: one grant per slot under contention (2), snapshot + deltas equal
the shard's state after a random mix of every kind of change (3)."""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from actors.calendar._store import decode_slots
from storage.types import Role
from tests.integration.live.conftest import Clinic, day_at, make_clinic, z

Client = TestClient[web.Request, web.Application]

# The acceptance size: 10,000 operations by 8 concurrent writers (about 40 s here).
MIX_OPERATIONS = int(os.environ.get("CADENCE_LIVE_MIX_OPS", "10000"))
MIX_WORKERS = 8

REPETITIONS = 10


async def test_500_concurrent_holds_for_one_slot_grant_exactly_one(clinic: Clinic) -> None:
    body_for = [{"calendar_id": clinic.calendar_id, "start": z(day_at(2 + r // 12, 8 + r % 12))}
                for r in range(REPETITIONS)]  # fmt: skip
    tokens = [clinic.api.token(Role.RECEPTIONIST) for _ in range(500)]
    for body in body_for:
        answers = await asyncio.gather(*(
            clinic.client.post("/v1/holds", json=body, headers={"Authorization": f"Bearer {t}"})
            for t in tokens
        ))  # fmt: skip
        statuses = sorted(a.status for a in answers)
        assert statuses.count(201) == 1 and statuses.count(409) == 499, statuses[:3]


class Subscriber:
    """A WebSocket client that took the snapshot and subscribed from its position."""

    def __init__(self, clinic: Clinic) -> None:
        self.clinic = clinic
        self.slots: dict[str, dict[str, Any]] = {}
        self.last = ""
        self.moved = asyncio.Event()

    async def start(self) -> None:
        snap = await self.clinic.slots(z(day_at(0, 0)), z(day_at(40, 0)))
        self.slots = {s["start"]: s for s in snap["slots"]}
        self.ws = await self.clinic.client.ws_connect("/v1/ws")
        channel = f"calendar:{self.clinic.calendar_id}"
        await self.ws.send_json(
            {"id": 1, "op": "subscribe", "channel": channel, "since": snap["position"]}
        )
        reply = await self.ws.receive_json(timeout=10)
        assert reply["op"] == "ok" and reply["result"]["recovered"], reply
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for msg in self.ws:
            frame = msg.json()
            if frame.get("op") != "event":
                continue
            for gone in frame["data"]["removed"]:
                self.slots.pop(gone["start"], None)
            for slot in frame["data"]["upserted"]:
                self.slots[slot["start"]] = slot
            self.last = frame["offset"]
            self.moved.set()

    async def settle(self, offset: str) -> None:
        async with asyncio.timeout(15):
            while self.last != offset and offset != "0-0":
                self.moved.clear()
                await self.moved.wait()

    async def close(self) -> None:
        await self.ws.close()
        self.task.cancel()


async def test_snapshot_plus_deltas_equals_the_shard_after_a_random_mix(
    client: Client,
) -> None:
    clinic = await make_clinic(client, horizon_days=30, hold_ttl_s=30)
    sub = Subscriber(clinic)
    await sub.start()
    patients = [uuid.UUID(await clinic.api.patient()) for _ in range(3)]
    # Holds made first expire during the mix (the minimum TTL is 30 s).
    expiring = [await clinic.hold(day_at(20, h)) for h in range(8, 12)]
    assert all(s == 201 for s, _ in expiring)
    held: list[str] = []
    booked: list[str] = []
    ops = 0
    started = time.monotonic()

    async def worker(seed: int) -> None:
        nonlocal ops
        rng = random.Random(seed)
        while time.monotonic() - started < 33 or ops < MIX_OPERATIONS:
            ops += 1
            roll = rng.random()
            if roll < 0.45 or not held:
                start = day_at(rng.randrange(1, 15), rng.randrange(8, 20))
                status, hold = await clinic.hold(start, patient_id=str(rng.choice(patients)))
                if status == 201:
                    held.append(hold["id"])
            elif roll < 0.7:
                status, _ = await clinic.api.call("DELETE", f"/v1/holds/{held.pop()}")
                assert status in (204, 404)
            elif roll < 0.85:
                status, appt = await clinic.api.call(
                    "POST", "/v1/appointments",
                    {"hold_id": held.pop(), "patient_id": str(patients[0])},
                )  # fmt: skip
                if status == 201:
                    booked.append(appt["id"])
            elif booked:
                status, _ = await clinic.api.call(
                    "POST", f"/v1/appointments/{booked.pop(rng.randrange(len(booked)))}/cancel",
                    {"reason": "patient_request"}, role=Role.RECEPTIONIST,
                )  # fmt: skip
                assert status == 200

    # Concurrent writers, as on a real booking page; the subscriber still sees one ordered stream.
    await asyncio.gather(*(worker(5 + i) for i in range(MIX_WORKERS)))
    await asyncio.sleep(2)  # the expiries fired during the mix; let the last pushes arrive
    state = await clinic.shard_state()
    await sub.settle(state["position"].offset)
    await sub.close()
    shard = {z(s.start): s for s in decode_slots(state["slots"])}
    assert set(sub.slots) == set(shard)
    for start, slot in shard.items():
        assert sub.slots[start]["specialist_ids"] == [str(x) for x in slot.specialist_ids]
    snap = await clinic.slots(z(day_at(0, 0)), z(day_at(40, 0)))
    assert snap["position"]["offset"] == state["position"].offset
    assert {s["start"]: s for s in snap["slots"]} == sub.slots
    assert not [h for h in state["holds"] if h in {e[1]["id"] for e in expiring}]
