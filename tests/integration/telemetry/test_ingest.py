"""Telemetry through REST and the TelemetryIngest actor into partitioned Postgres tables."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from actors._pool._pool import ActorPool, ShardOverloaded
from actors.telemetry._commands import TelemetryCommands
from actors.telemetry._ingest import IngestRequest, IngestResult, TelemetryIngest
from server import tokens
from server.resources import DB_KEY
from server.services import CALENDARS_KEY, TELEMETRY_KEY
from server.settings import Settings
from storage.db import AppDatabase
from storage.types import Principal, Role
from tests.support.tenants import make_org, make_patient

Client = TestClient[web.Request, web.Application]


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def rep_event(session: str, exercise: str, rep: int, rom: float) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "rep.metrics",
        "t": now_ms(),
        "session_id": session,
        "data": {
            "exercise_id": exercise,
            "set": 1,
            "rep": rep,
            "rom_deg": rom,
            "duration_ms": 2000,
        },
    }


def watch_event(exercise: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": "video.watch",
        "t": now_ms(),
        "data": {
            "exercise_id": exercise,
            "media_key": "v/1.mp4",
            "action": "play",
            "position_s": 1,
        },
    }


class Tenant:
    def __init__(self, settings: Settings, org: uuid.UUID, patient: uuid.UUID) -> None:
        self.org, self.patient = org, patient
        self.patient_token = tokens.issue(
            settings.secret, role=Role.PATIENT, org_id=org, patient_id=patient
        )
        self.admin_token = tokens.issue(settings.secret, role=Role.ADMIN, org_id=org)

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


async def tenant(settings: Settings, consent: bool = True) -> Tenant:
    org = await make_org(settings.database_url)
    patient = await make_patient(settings.database_url, org, consent_analytics=consent)
    return Tenant(settings, org, patient)


async def stored_ids(dsn: str, patient: uuid.UUID) -> list[uuid.UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT event_id FROM telemetry_events WHERE patient_id = $1", patient
        )
        return [r["event_id"] for r in rows]
    finally:
        await conn.close()


async def test_a_mixed_batch_stores_the_valid_events_and_explains_the_rest(
    client: Client, settings: Settings
) -> None:
    t = await tenant(settings)
    session, exercise = str(uuid.uuid4()), str(uuid.uuid4())
    good = [rep_event(session, exercise, i, 80 + i) for i in range(1, 4)]
    bad = [
        {**rep_event(session, exercise, 9, 1), "type": "nope"},
        {**rep_event(session, exercise, 9, 1), "t": now_ms() + 3 * 365 * 86_400_000},
        {**rep_event(session, exercise, 9, 1), "data": {"exercise_id": exercise, "set": "x"}},
    ]
    response = await client.post(
        "/v1/telemetry", json={"events": good + bad}, headers=t.auth(t.patient_token)
    )
    assert response.status == 200
    body = await response.json()
    assert body["accepted"] == 3
    assert [r["error"]["code"] for r in body["rejected"]] == [
        "unknown_type",
        "t_out_of_range",
        "invalid_field",
    ]
    assert sorted(await stored_ids(settings.database_url, t.patient)) == sorted(
        uuid.UUID(e["id"]) for e in good
    )


async def test_resending_a_batch_stores_each_event_once_and_rollups_once(
    client: Client, settings: Settings
) -> None:
    t = await tenant(settings)
    session, exercise = str(uuid.uuid4()), str(uuid.uuid4())
    batch = {"events": [rep_event(session, exercise, i, r) for i, r in ((1, 60), (2, 90))]}
    for _ in range(3):
        response = await client.post("/v1/telemetry", json=batch, headers=t.auth(t.patient_token))
        assert response.status == 200 and (await response.json())["accepted"] == 2
    assert len(await stored_ids(settings.database_url, t.patient)) == 2
    trend = await client.get(
        f"/v1/patients/{t.patient}/telemetry/rom-trend", headers=t.auth(t.admin_token)
    )
    day = (await trend.json())["exercises"][exercise][0]
    assert day["reps"] == 2 and day["rom_mean"] == 75 and day["rom_min"] == 60
    assert day["rom_max"] == 90


async def test_a_resend_mixed_with_new_events_stores_each_event_once(
    client: Client, settings: Settings
) -> None:
    # Bulk events go in with a plain insert first; a resent id makes Postgres refuse it, and
    # the batch is stored again with ON CONFLICT: the new events in, the known ones skipped.
    t = await tenant(settings)
    exercise = str(uuid.uuid4())
    first = [watch_event(exercise) for _ in range(5)]
    fresh = [watch_event(exercise) for _ in range(3)]
    for events in (first, first[2:] + fresh, first + fresh):
        response = await client.post(
            "/v1/telemetry", json={"events": events}, headers=t.auth(t.patient_token)
        )
        assert response.status == 200
        assert (await response.json())["accepted"] == len(events)
    ids = await stored_ids(settings.database_url, t.patient)
    assert sorted(ids) == sorted(uuid.UUID(e["id"]) for e in first + fresh)


async def test_one_event_in_two_coalesced_requests_is_stored_once(
    client: Client, settings: Settings
) -> None:
    # Under load one actor call carries many clients' batches into one COPY: a client that
    # resent a batch before its first attempt was answered must not store it twice.
    t = await tenant(settings)
    exercise = str(uuid.uuid4())
    events = [watch_event(exercise) for _ in range(4)]
    upper = [{**e, "id": e["id"].upper()} for e in events[:2]]  # same ids, other spelling
    bodies = [orjson.dumps({"events": events}), orjson.dumps({"events": upper})]
    commands: TelemetryCommands = client.app[TELEMETRY_KEY]
    await commands._pool.ensure_started()  # noqa: SLF001
    actor = commands._pool.handle(0)  # noqa: SLF001
    results: list[IngestResult] = await actor.handle_batch.remote(
        [IngestRequest(t.org, t.patient, body) for body in bodies]
    )
    assert [(r.accepted, r.error) for r in results] == [(4, None), (2, None)]
    ids = await stored_ids(settings.database_url, t.patient)
    assert sorted(ids) == sorted(uuid.UUID(e["id"]) for e in events)


async def test_opted_out_patient_keeps_only_clinical_events(
    client: Client, settings: Settings
) -> None:
    t = await tenant(settings, consent=False)
    session, exercise = str(uuid.uuid4()), str(uuid.uuid4())
    clinical = rep_event(session, exercise, 1, 70)
    response = await client.post(
        "/v1/telemetry",
        json={"events": [clinical, watch_event(exercise)]},
        headers=t.auth(t.patient_token),
    )
    body = await response.json()
    assert body["accepted"] == 2 and body["discarded"] == 1
    assert await stored_ids(settings.database_url, t.patient) == [uuid.UUID(clinical["id"])]


async def test_export_streams_json_lines_for_admins_only(
    client: Client, settings: Settings
) -> None:
    t = await tenant(settings)
    other = await tenant(settings)
    exercise = str(uuid.uuid4())
    events = [watch_event(exercise) for _ in range(5)]
    await client.post("/v1/telemetry", json={"events": events}, headers=t.auth(t.patient_token))
    response = await client.get(
        f"/v1/patients/{t.patient}/telemetry/export", headers=t.auth(t.admin_token)
    )
    assert response.status == 200
    lines = [orjson.loads(line) for line in (await response.read()).splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(e["id"] for e in events)
    assert all("email" not in line and "name" not in line for line in lines)
    denied = await client.get(
        f"/v1/patients/{t.patient}/telemetry/export", headers=t.auth(t.patient_token)
    )
    assert denied.status == 403
    foreign = await client.get(
        f"/v1/patients/{t.patient}/telemetry/export", headers=other.auth(other.admin_token)
    )
    assert foreign.status == 404


@pytest.mark.parametrize("kind", ["rep.metrics", "video.watch"])  # rolled up, and bulk
async def test_a_missing_partition_fails_loudly_and_nothing_is_acknowledged(
    client: Client, settings: Settings, kind: str
) -> None:
    t = await tenant(settings)
    session, exercise = str(uuid.uuid4()), str(uuid.uuid4())
    old = rep_event(session, exercise, 1, 50) if kind == "rep.metrics" else watch_event(exercise)
    old["t"] = now_ms() - 20 * 86_400_000  # may fall in last month's partition
    month = datetime.fromtimestamp(old["t"] / 1000, UTC).strftime("%Y_%m")
    owner = await asyncpg.connect(settings.database_url)
    try:
        await owner.execute(
            f"ALTER TABLE telemetry_events DETACH PARTITION telemetry_events_p{month}"
        )
        response = await client.post(
            "/v1/telemetry", json={"events": [old]}, headers=t.auth(t.patient_token)
        )
        assert response.status == 503
        assert (await response.json())["error"]["code"] == "storage_unavailable"
    finally:
        await owner.execute(
            f"ALTER TABLE telemetry_events ATTACH PARTITION telemetry_events_p{month} "
            f"FOR VALUES FROM ('{month.replace('_', '-')}-01') TO "
            f"('{month.replace('_', '-')}-01'::date + interval '1 month')"
        )
        await owner.close()
    retry = await client.post(
        "/v1/telemetry", json={"events": [old]}, headers=t.auth(t.patient_token)
    )
    assert retry.status == 200
    assert await stored_ids(settings.database_url, t.patient) == [uuid.UUID(old["id"])]


async def test_a_full_ingest_queue_tells_clients_to_slow_down(
    settings: Settings, client: Client
) -> None:
    t = await tenant(settings)
    name = f"tiny-{uuid.uuid4().hex[:6]}"
    db = AppDatabase(settings.database_url, client.app[DB_KEY].seal)
    pool = ActorPool(TelemetryIngest, name, 1, (db,), max_pending=2)
    commands = TelemetryCommands(pool)  # same database, a tiny queue
    who = Principal(user_id=None, org_id=t.org, role=Role.PATIENT, patient_id=t.patient)
    exercise = str(uuid.uuid4())
    bodies = [
        orjson.dumps({"events": [watch_event(exercise) for _ in range(50)]}) for _ in range(40)
    ]
    try:
        outcomes = await asyncio.gather(
            *(commands.submit(who, body) for body in bodies),
            return_exceptions=True,
        )
    finally:
        await pool.stop(kill=True)
    overloaded = [o for o in outcomes if isinstance(o, ShardOverloaded)]
    stored = [o for o in outcomes if not isinstance(o, BaseException)]
    assert overloaded and stored
    assert all(o.retry_after_ms > 0 for o in overloaded)
    assert len(await stored_ids(settings.database_url, t.patient)) == 50 * len(stored)


@pytest.mark.slow
async def test_kill_9_of_the_ingest_actor_loses_no_acknowledged_event(
    client: Client, settings: Settings
) -> None:
    t = await tenant(settings)
    exercise = str(uuid.uuid4())
    acknowledged: list[str] = []
    stop = asyncio.Event()

    async def streamer() -> None:
        while not stop.is_set():
            batch = [watch_event(exercise) for _ in range(20)]
            while True:  # resend the same batch until it is acknowledged, like the SDK does
                response = await client.post(
                    "/v1/telemetry", json={"events": batch}, headers=t.auth(t.patient_token)
                )
                if response.status == 200:
                    acknowledged.extend(e["id"] for e in batch)
                    break
                assert response.status in (429, 503)
                await asyncio.sleep(0.1)

    commands: TelemetryCommands = client.app[TELEMETRY_KEY]
    tasks = [asyncio.create_task(streamer()) for _ in range(20)]
    await asyncio.sleep(1.0)
    pid = (await commands._pool.pids())[0]  # noqa: SLF001
    os.kill(pid, signal.SIGKILL)
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.gather(*tasks)
    ids = await stored_ids(settings.database_url, t.patient)
    assert len(ids) == len(set(ids))  # exactly once
    assert set(map(str, ids)) == set(acknowledged)
    assert (await commands._pool.pids())[0] != pid  # noqa: SLF001
    assert datetime.now(UTC) - timedelta(seconds=60) < datetime.now(UTC)


async def test_ingest_actors_yield_the_cpu_to_calendar_shards(
    client: Client, settings: Settings
) -> None:
    # Bulk work runs at a lower CPU priority than interactive work: on a short CPU, holds and
    # pushes go first and telemetry is acknowledged a little later.
    telemetry: TelemetryCommands = client.app[TELEMETRY_KEY]
    calendars = client.app[CALENDARS_KEY]
    pools = [telemetry._pool, calendars._pool]  # noqa: SLF001 - the test reads their processes
    for pool in pools:
        await pool.ensure_started()
    ingest, shard = [psutil.Process(await p.handle(0).pid.remote()) for p in pools]
    assert settings.bulk_niceness > 0
    assert ingest.nice() - shard.nice() == settings.bulk_niceness
    # Every thread of it (on Linux a nice value is a thread's), not only the one that set it.
    niceness = {os.getpriority(os.PRIO_PROCESS, t.id) for t in ingest.threads()}
    assert niceness == {shard.nice() + settings.bulk_niceness}
