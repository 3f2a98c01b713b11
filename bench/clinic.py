"""A bench clinic built through the REST contract of PROTOCOL.md as its admin: services,
specialists with weekly hours, public calendars and patients; and the calendar subscribers the
booking scenarios check pushes with (snapshot + deltas, in order, none lost)."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench.schema import Skip
from bench.server_process import Server, token
from storage.types import Role

NOTICE_MIN = 60  # the calendars' minimum notice
EVERY_DAY = [{"weekday": d, "start": "08:00", "end": "20:00"} for d in range(1, 8)]
ROUTES = (
    ("POST", "/v1/holds"),
    ("POST", "/v1/appointments"),
    ("POST", "/v1/appointments/{id}/cancel"),
    ("GET", "/v1/calendars/{id}/slots"),
)


@dataclass
class Calendar:
    id: str
    starts: list[str]


@dataclass
class Clinic:
    base: str
    org_id: uuid.UUID
    calendars: list[Calendar] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)

    def bearer(self, role: Role = Role.RECEPTIONIST, patient_id: str | None = None) -> str:
        pid = uuid.UUID(patient_id) if patient_id else None
        return token(self.org_id, role, patient_id=pid, ttl_s=7200)


async def missing_routes(base: str) -> list[str]:
    """The booking routes this server's OpenAPI document does not list."""
    async with aiohttp.ClientSession() as http, http.get(base + "/v1/openapi.json") as r:
        doc = await r.json()
    paths = doc.get("paths", {})
    return [
        f"{method} {path}" for method, path in ROUTES if method.lower() not in paths.get(path, {})
    ]


async def build(
    server: Server, *, calendars: int, specialists: int, patients: int, interval_min: int = 30,
    days: int = 14,
) -> Clinic:  # fmt: skip
    missing = await missing_routes(server.base)
    if missing:
        raise Skip("routes not mounted yet: " + ", ".join(missing))
    conn = await asyncpg.connect(server.dsn)
    try:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug, timezone) VALUES ('Bench', $1, 'UTC')"
            " RETURNING id",
            "b-" + secrets.token_hex(5),
        )
    finally:
        await conn.close()
    clinic = Clinic(server.base, org)
    admin = {"Authorization": f"Bearer {clinic.bearer(Role.ADMIN)}"}
    async with aiohttp.ClientSession(server.base) as http:

        async def call(path: str, body: Any, method: str = "POST") -> Any:
            async with http.request(method, path, json=body, headers=admin) as r:
                if r.status not in (200, 201):
                    raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")
                return await r.json()

        service = await call(
            "/v1/services",
            {"name": "Physio", "duration_min": interval_min, "modality": "in_clinic",
             "price": {"amount": 100, "currency": "RON"}},
        )  # fmt: skip
        for c in range(calendars):
            members = []
            for n in range(specialists):
                spec = await call("/v1/specialists", {"name": f"S{c}.{n}", "timezone": "UTC"})
                await call(
                    f"/v1/specialists/{spec['id']}/weekly-hours", {"hours": EVERY_DAY}, "PUT"
                )
                members.append({"id": spec["id"], "priority": n})
            cal = await call(
                "/v1/calendars",
                {"name": f"Bench {c}", "service_id": service["id"], "timezone": "UTC",
                 "public": True, "slot_interval_min": interval_min, "min_notice_min": NOTICE_MIN,
                 "horizon_days": days, "assignment": "priority", "specialists": members,
                 "hold_ttl_s": 600},
            )  # fmt: skip
            snap = await slots(http, cal["id"], admin)
            # A slot an hour past the notice stays bookable through any run: one at its edge
            # would cross into the notice mid-run and be refused (422) as too soon.
            later = datetime.now(UTC) + timedelta(minutes=NOTICE_MIN + 60)
            starts = [
                s["start"] for s in snap["slots"] if datetime.fromisoformat(s["start"]) >= later
            ]
            clinic.calendars.append(Calendar(cal["id"], starts))
        for p in range(patients):
            made = await call("/v1/patients", {"first_name": "Bench", "last_name": f"P{p}"})
            # Opt-in: without these, analytics telemetry is discarded and sessions are refused.
            for purpose in ("analytics", "telerehab_camera"):
                await call(f"/v1/patients/{made['id']}/consents",
                           {"purpose": purpose, "policy_version": "bench"})  # fmt: skip
            clinic.patients.append(made["id"])
    return clinic


async def slots(
    http: aiohttp.ClientSession, calendar_id: str, headers: dict[str, str], days: int = 40
) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    to = (today + timedelta(days=days)).isoformat()
    path = f"/v1/calendars/{calendar_id}/slots?from={today.isoformat()}&to={to}"
    async with http.get(path, headers=headers) as r:
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {await r.text()}")
        result: dict[str, Any] = await r.json()
        return result


class Watcher:
    """One calendar subscriber from a snapshot position: applies every delta, records push
    latency (stream offset time to receipt) and whether offsets only ever grew."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.slots: dict[str, Any] = {}
        self.latencies: list[tuple[float, float]] = []  # (receipt time, ms)
        self.events = 0
        self.in_order = True
        self.last = (0, 0)

    async def run(
        self, http: aiohttp.ClientSession, ws_url: str, channel: str, since: dict[str, str],
        ready: asyncio.Event,
    ) -> None:  # fmt: skip
        async with http.ws_connect(ws_url, max_msg_size=0) as ws:
            await ws.send_json({"id": 1, "op": "subscribe", "channel": channel, "since": since})
            async for msg in ws:
                frame = orjson.loads(msg.data)
                op = frame.get("op")
                if op == "ok" and frame.get("id") == 1:
                    ready.set()
                if op != "event":
                    continue
                now = time.time()
                position = _position(frame["offset"])
                ms_part = position[0]
                self.in_order &= position > self.last
                self.last = position
                self.events += 1
                self.latencies.append((now, now * 1000 - ms_part))
                if self.keep:
                    for gone in frame["data"]["removed"]:
                        self.slots.pop(gone["start"], None)
                    for slot in frame["data"]["upserted"]:
                        self.slots[slot["start"]] = slot


def _position(offset: str) -> tuple[int, int]:
    ms_part, _, seq = offset.partition("-")
    return int(ms_part), int(seq or 0)


async def settle(watchers: list[Watcher], offset: str, within_s: float = 15) -> None:
    """Wait (bounded) until every watcher applied the event at `offset` (a stream position)."""
    target = _position(offset)
    deadline = time.monotonic() + within_s
    # Polling plain attributes that other tasks set; bounded by the deadline.
    while any(w.last < target for w in watchers) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
