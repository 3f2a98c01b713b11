"""A Ray node lost under load, run in a child process of its own (a process joins one Ray
cluster, and the test run's other tests share another): `python -m tests.scaleout.node_loss
DSN REDIS_URL PREFIX TMP` prints one JSON line of what happened; tests/scaleout/test_node_loss.py
judges it.

A head node without CPUs and two worker nodes of one CPU each (`ray.cluster_utils.Cluster`,
files under RAY_TMPDIR), this process as the server (the real app on a real port, joined to the
cluster by RAY_ADDRESS). An actor needs a CPU to be placed, so every actor runs on a worker
node; which one is Ray's default (hybrid) policy's choice, reported as placed. Clerks book and
patients send telemetry batches through REST while the node holding a calendar shard is killed
(its raylet and workers, no graceful exit).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
from aiohttp.test_utils import TestServer
from ray.exceptions import RayError

from actors import ActorPool
from actors._pool import shard_of
from bench.ray_cluster import start_cluster
from server import tokens
from server.app import create_app
from server.services import CALENDARS_KEY, TELEMETRY_KEY
from server.settings import Settings
from storage.types import Role
from tests.scaleout.clinic import SECRET, Clinic, make_clinic, new_org, slot, z
from tests.support.services import app_password
from tests.support.tenants import make_patient

SHARDS = 2
CLERKS_PER_CLINIC = 2
PATIENTS = 2
BEFORE_S = 3.0  # load before the node is removed
AFTER_S = 4.0  # load after the lost shard answered again
GIVE_UP_S = 60.0  # a lost shard not back by then is reported as never back


async def _clinics(http: aiohttp.ClientSession, base: str, dsn: str) -> list[Clinic]:
    """One clinic on each calendar shard (organizations are placed by a stable hash)."""
    by_shard: dict[int, Clinic] = {}
    while len(by_shard) < SHARDS:
        org = await new_org(dsn)
        if shard_of(org, SHARDS) not in by_shard:
            by_shard[shard_of(org, SHARDS)] = await make_clinic(http, base, org)
    return [by_shard[i] for i in range(SHARDS)]


async def _placement(pool: ActorPool) -> list[str]:
    """The node of each actor of `pool` (its link says where it listens)."""
    await pool.ensure_started()
    nodes = []
    for i in range(pool.size):
        where = await pool.handle(i).link.remote()
        assert where is not None, "the actor offers no same-host link to tell its node"
        nodes.append(str(where[0]))
    return nodes


async def _moved(pool: ActorPool, index: int, lost_node: str) -> float | None:
    """When actor `index` answers from a node other than `lost_node`: now, else None."""
    try:
        where = await asyncio.wait_for(pool.handle(index).link.remote(), 1.0)
    except (RayError, TimeoutError):
        return None
    return time.monotonic() if where is not None and where[0] != lost_node else None


class Load:
    """Clerks booking and patients sending telemetry until `stop`; what was acknowledged."""

    def __init__(self, http: aiohttp.ClientSession, base: str, dsn: str) -> None:
        self.http, self.base, self.dsn = http, base, dsn
        self.stop = asyncio.Event()
        self.confirmed: dict[str, str] = {}  # appointment id -> clinic
        self.refused: dict[int, int] = {}  # status -> count (503 while a shard restarts)
        # clinic -> when its last successful booking was sent (monotonic)
        self.last_ok: dict[str, float] = {}
        self.acked: list[str] = []  # telemetry event ids the server acknowledged
        self.patients: dict[str, uuid.UUID] = {}
        self._next = 0

    async def clerk(self, clinic: Clinic) -> None:
        patient = self.patients[str(clinic.org)]
        while not self.stop.is_set():
            self._next += 1
            started = time.monotonic()
            body = {
                "calendar_id": clinic.calendar,
                "patient_id": str(patient),
                "start": z(slot(self._next)),
                "occurrences": 1,
            }
            try:
                status, data = await clinic.rest.call("POST", "/v1/appointments/series", body)
            except (aiohttp.ClientError, TimeoutError):
                status, data = 0, None
            if status == 201:
                self.confirmed[data["appointments"][0]["id"]] = str(clinic.org)
                self.last_ok[str(clinic.org)] = started
            else:
                self.refused[status] = self.refused.get(status, 0) + 1
                await asyncio.sleep(0.05)

    async def patient(self, clinic: Clinic, n: int) -> None:
        patient = await make_patient(self.dsn, clinic.org)
        token = tokens.issue(SECRET, role=Role.PATIENT, org_id=clinic.org, patient_id=patient)
        headers = {"Authorization": f"Bearer {token}"}
        session = str(uuid.uuid4())
        rep = 0
        while not self.stop.is_set():
            batch = []
            for _ in range(20):
                rep += 1
                batch.append(
                    {
                        "id": str(uuid.uuid4()),
                        "type": "rep.metrics",
                        "t": int(time.time() * 1000),
                        "session_id": session,
                        "data": {
                            "exercise_id": session,
                            "set": n + 1,
                            "rep": rep % 50 + 1,
                            "rom_deg": 80.0,
                            "duration_ms": 2000,
                        },
                    }
                )
            # A batch not acknowledged is sent again, as the SDK does: the server stores an
            # event id once, however often it arrives.
            while True:
                try:
                    async with self.http.post(
                        self.base + "/v1/telemetry", json={"events": batch}, headers=headers
                    ) as response:
                        body = await response.read()
                        if response.status == 200:
                            # A resend's events already stored count as discarded duplicates.
                            assert orjson.loads(body)["rejected"] == [], body
                            self.acked.extend(str(e["id"]) for e in batch)
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.05)


async def _stored(dsn: str, load: Load) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        booked = await conn.fetch(
            "SELECT id::text, status FROM appointments WHERE id = ANY($1::uuid[])",
            list(load.confirmed),
        )
        copies = await conn.fetch(
            "SELECT event_id::text, count(*) AS n FROM telemetry_events"
            " WHERE event_id = ANY($1::uuid[]) GROUP BY event_id",
            load.acked,
        )
    finally:
        await conn.close()
    statuses = {r["id"]: r["status"] for r in booked}
    counts = {r["event_id"]: r["n"] for r in copies}
    return {
        "confirmed": len(load.confirmed),
        "lost_bookings": sorted(set(load.confirmed) - set(statuses)),
        "statuses": sorted(set(statuses.values())),
        "acked_rows": len(load.acked),
        "lost_rows": len(set(load.acked) - set(counts)),
        "duplicated_rows": sum(1 for n in counts.values() if n > 1),
    }


async def run(dsn: str, redis_url: str, prefix: str, tmp: str) -> dict[str, Any]:
    t0 = time.monotonic()

    def mark(what: str) -> None:
        print(f"{time.monotonic() - t0:6.1f}s {what}", file=sys.stderr, flush=True)

    cluster = start_cluster(head_cpus=0)
    workers = {w.node_id: w for w in (cluster.add_node(num_cpus=1) for _ in range(2))}
    settings = Settings.from_env(
        {
            "DATABASE_URL": dsn,
            "REDIS_URL": redis_url,
            "RAY_ADDRESS": cluster.address,
            "CADENCE_ENV": "test",
            "CADENCE_REDIS_PREFIX": prefix,
            "CADENCE_SECRET": SECRET,
            "CADENCE_DB_APP_PASSWORD": app_password(),
            "CADENCE_CALENDAR_SHARDS": str(SHARDS),
            "CADENCE_INGEST_ACTORS": str(SHARDS),
            "CADENCE_POSE_WORKERS": "1",
            "CADENCE_BLOB_DIR": str(Path(tmp) / "blobs"),
            "CADENCE_MAIL_DIR": str(Path(tmp) / "mail"),
        }
    )
    mark("cluster up")
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as http:
            clinics = await _clinics(http, base, dsn)
            load = Load(http, base, dsn)
            for clinic in clinics:
                load.patients[str(clinic.org)] = await make_patient(dsn, clinic.org)
            mark("clinics")
            app = server.app
            calendars = app[CALENDARS_KEY]._pool  # noqa: SLF001 - the test asks where shards run
            telemetry = app[TELEMETRY_KEY]._pool  # noqa: SLF001
            calendar_nodes = await _placement(calendars)
            telemetry_nodes = await _placement(telemetry)
            mark("placed")
            tasks = [
                asyncio.create_task(load.clerk(c))
                for c in clinics
                for _ in range(CLERKS_PER_CLINIC)
            ]
            tasks += [
                asyncio.create_task(load.patient(clinics[i % len(clinics)], i))
                for i in range(PATIENTS)
            ]
            await asyncio.sleep(BEFORE_S)

            # The node of shard 0's actor goes (never the head: it has no CPU for actors, and
            # this process, the driver, is attached to it); its clinic must come back.
            victim_id = calendar_nodes[0]
            lost_clinic = str(clinics[0].org)
            removed_at = time.monotonic()
            await asyncio.to_thread(cluster.remove_node, workers[victim_id], False)
            mark("node removed")
            back_s: float | None = None
            moved_at: float | None = None
            while time.monotonic() - removed_at < GIVE_UP_S:
                # Its actor's process may answer for a moment after the raylet is gone; back
                # means restarted elsewhere by Ray, and a booking sent after that succeeded.
                if moved_at is None:
                    moved_at = await _moved(calendars, 0, victim_id)
                elif load.last_ok.get(lost_clinic, 0.0) > moved_at:
                    back_s = time.monotonic() - removed_at
                    break
                await asyncio.sleep(0.05)
            mark("back")
            await asyncio.sleep(AFTER_S)
            load.stop.set()
            await asyncio.gather(*tasks)
            after_nodes = await _placement(calendars)
            mark("done")
            return {
                "calendar_nodes": calendar_nodes,
                "telemetry_nodes": telemetry_nodes,
                "victim": victim_id,
                "workers": sorted(workers),
                "calendar_nodes_after": after_nodes,
                "back_s": back_s,
                "refused": {str(k): n for k, n in load.refused.items()},
                **await _stored(dsn, load),
            }
    finally:
        await server.close()
        cluster.shutdown()  # type: ignore[no-untyped-call]


def main() -> None:
    result = asyncio.run(run(*sys.argv[1:5]))
    print("result", orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
