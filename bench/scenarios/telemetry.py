"""`telemetry`: rows per second from clients into Postgres, end to end (POST /v1/telemetry, and the
WebSocket `telemetry` op once the gateway serves it: acknowledged only once durably stored),
beside raw asyncpg `copy_records_to_table` into a table of the same shape, in the same run.

Clients post batches of `pose.sample` events (the high-volume type) in closed loops from several
generator processes; a 429/503 answer is retried with the same event ids after its hint, as the
SDK does. Check: every acknowledged event is stored exactly once (ids are derived from a run nonce,
the generator and a sequence number, so the check needs no id lists between processes).
Goals: >= 50,000 rows/s end to end and >= 50% of raw COPY.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench.generators import Fleet, Link, split
from bench.progress import Progress
from bench.schema import Goal, Result, Skip
from bench.server_process import live_stack, token
from bench.stats import Recorder, percentile, timeline
from storage.db import _init_connection
from storage.telemetry import COLUMNS
from storage.types import Role

TABLE_SHAPE = "telemetry_events"
RAW_TABLE = "bench_raw_telemetry"


def event_id(nonce: int, generator: int, seq: int) -> uuid.UUID:
    return uuid.UUID(int=(nonce << 64) | (generator << 40) | seq)


def _events(arg: dict[str, Any], index: int, first: int, n: int) -> list[dict[str, Any]]:
    now_ms = int(time.time() * 1000)
    return [
        {
            "id": str(event_id(arg["nonce"], index, seq)),
            "type": "pose.sample",
            "t": now_ms,
            "session_id": arg["session_id"],
            "data": {
                "exercise_id": arg["exercise_id"],
                "angles": {"left_knee": 90.0 + seq % 60, "right_knee": 91.5},
                "visibility": 0.93,
            },
        }
        for seq in range(first, first + n)
    ]


async def client_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """One generator process: `clients` closed loops posting `batch` events until the deadline."""
    acked: list[tuple[int, int]] = []
    statuses: dict[str, int] = {}
    rec = Recorder(cap=20_000, seed=index)
    next_seq = [0]
    bearers = arg.get("tokens") or [arg["token"]]  # one per client (telerehab sessions) or shared
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(arg["base"], connector=connector) as http:
        await link.ready()
        await link.wait_go()
        rec.t0 = time.perf_counter()
        deadline = time.monotonic() + arg["duration"]

        async def send(body: bytes, bearer: str) -> tuple[int, dict[str, Any]]:
            headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
            for _ in range(20):  # bounded: a server that never takes the batch fails the check
                t0 = time.perf_counter()
                async with http.post("/v1/telemetry", data=body, headers=headers) as r:
                    status, reply = r.status, await r.read()
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if status == 200:
                    rec.add((time.perf_counter() - t0) * 1000)
                    return status, orjson.loads(reply)
                if status not in (429, 503):
                    return status, {}
                hint = orjson.loads(reply).get("error", {}).get("details", {})
                await asyncio.sleep(min(2.0, hint.get("retry_after_ms", 200) / 1000))
            return 0, {}

        async def loop(c: int) -> None:
            bearer = bearers[c % len(bearers)]
            while time.monotonic() < deadline:
                first = next_seq[0]
                next_seq[0] += arg["batch"]
                body = orjson.dumps({"events": _events(arg, index, first, arg["batch"])})
                status, reply = await send(body, bearer)
                if status == 200 and reply["accepted"] == arg["batch"] and not reply["rejected"]:
                    acked.append((first, arg["batch"]))
                elif status == 200:
                    statuses["partial"] = statuses.get("partial", 0) + 1
                if arg.get("interval_s"):  # a paced client (a session's samples each second)
                    await asyncio.sleep(arg["interval_s"])

        await asyncio.gather(*(loop(c) for c in range(arg["clients"])))
    return {"acked": acked, "sent": next_seq[0], "statuses": statuses, "points": rec.points}


async def copy_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """The peer: `clients` connections COPYing batches of the same rows into a plain table."""
    rec = Recorder(cap=20_000, seed=index)
    conns = []
    for _ in range(arg["clients"]):
        conn = await asyncpg.connect(arg["dsn"])
        await _init_connection(conn)
        conns.append(conn)
    org, patient = uuid.UUID(arg["org_id"]), uuid.UUID(arg["patient_id"])
    session, exercise = uuid.UUID(arg["session_id"]), uuid.UUID(arg["exercise_id"])
    rows = [0]
    next_seq = [0]
    await link.ready()
    await link.wait_go()
    rec.t0 = time.perf_counter()
    deadline = time.monotonic() + arg["duration"]

    async def loop(conn: asyncpg.Connection) -> None:
        while time.monotonic() < deadline:
            first = next_seq[0]
            next_seq[0] += arg["batch"]
            now = datetime.now(UTC)
            records = [
                (org, patient, session, exercise, event_id(arg["nonce"], index, seq),
                 "pose.sample", now, now,
                 {"exercise_id": arg["exercise_id"],
                  "angles": {"left_knee": 90.0 + seq % 60, "right_knee": 91.5},
                  "visibility": 0.93})
                for seq in range(first, first + arg["batch"])
            ]  # fmt: skip
            t0 = time.perf_counter()
            await conn.copy_records_to_table(RAW_TABLE, records=records, columns=COLUMNS)
            rec.add((time.perf_counter() - t0) * 1000)
            rows[0] += arg["batch"]

    try:
        await asyncio.gather(*(loop(c) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    return {"rows": rows[0], "points": rec.points}


async def _ws_op_served(base: str, bearer: str) -> bool:
    """Whether the gateway answers a `telemetry` op (an empty batch) with anything but
    `unknown_op`: the op is registered by the telemetry domain when the gateway has it."""
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(
                base + "/v1/ws", headers={"Authorization": f"Bearer {bearer}"}, timeout=10
            ) as ws,
        ):
            await ws.send_json({"id": 1, "op": "telemetry", "events": []})
            async with asyncio.timeout(10):
                async for msg in ws:
                    frame = orjson.loads(msg.data)
                    if frame.get("id") == 1:
                        return bool(frame.get("error", {}).get("code") != "unknown_op")
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False
    return False


async def _seed(dsn: str) -> tuple[uuid.UUID, uuid.UUID]:
    conn = await asyncpg.connect(dsn)
    try:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id",
            f"bench-{secrets.token_hex(4)}",
        )
        patient = await conn.fetchval(
            """INSERT INTO patients (organization_id, first_name, last_name)
               VALUES ($1, 'Bench', 'Patient') RETURNING id""",
            org,
        )
        await conn.execute(f"CREATE TABLE {RAW_TABLE} (LIKE {TABLE_SHAPE} INCLUDING ALL)")
    finally:
        await conn.close()
    return org, patient


async def _drive(target: str, args: list[dict[str, Any]], label: str, duration: float) -> Any:
    async with Fleet(target, args, label) as fleet:
        await fleet.ready()
        bar = Progress(label, duration)
        ticker = asyncio.create_task(bar.tick(duration))
        started = time.monotonic()
        try:
            data = await fleet.results()
        finally:
            ticker.cancel()
        return data, fleet.reports, time.monotonic() - started


async def stored_events(dsn: str, org: uuid.UUID) -> tuple[set[uuid.UUID], int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT event_id FROM telemetry_events WHERE organization_id = $1", org
        )
    finally:
        await conn.close()
    return {r["event_id"] for r in rows}, len(rows)


async def remote(opts, common: dict[str, Any], per_gen: list[int]) -> Result:  # type: ignore[no-untyped-def]
    """--url: rows/s against a running deployment with the given token (a patient's or staff's).
    Without its database there is no peer and no storage check, only full acknowledgements."""
    if not opts.token:
        raise Skip("--url needs --token (a patient or staff access token of that deployment)")
    args = [{**common, "base": opts.url.rstrip("/"), "token": opts.token, "clients": c}
            for c in per_gen]  # fmt: skip
    data, reports, wall = await _drive(
        "bench.scenarios.telemetry:client_gen", args, "telemetry REST", common["duration"]
    )
    acked = sum(n for d in data for _, n in d["acked"])
    sent = sum(d["sent"] for d in data)
    lat = [ms for d in data for _, ms in d["points"]]
    return Result(
        scenario="telemetry",
        parameters={"url": opts.url, "batch": common["batch"], "clients": sum(per_gen),
                    "duration_s": common["duration"]},  # fmt: skip
        figures={"rows_per_s": acked / wall, "batch_p50_ms": percentile(lat, 50),
                 "batch_p99_ms": percentile(lat, 99), "rows_acknowledged": float(acked)},
        goals=[Goal("rows_per_s", ">=", 50_000, "rows/s")],
        checks={"every_batch_acknowledged_in_full": acked > 0 and sum(
            d["statuses"].get("partial", 0) for d in data) == 0},
        generators=reports,
        series={"cadence POST /v1/telemetry": lat},
        notes=[f"Against {opts.url}: {sent - acked} rows were sent but not acknowledged "
               "(the last batches in flight at the deadline, or refusals). No peer and no "
               "storage check without the deployment's database."],
    )  # fmt: skip


async def run(opts) -> Result:  # type: ignore[no-untyped-def]
    duration = float(opts.pick(opts.duration, 20, 3))
    clients = int(opts.pick(opts.clients, 16, 4))
    generators = int(opts.pick(None, 2, 2))
    batch = int(opts.pick(opts.rate, 500, 200))
    nonce = secrets.randbits(63)
    per_gen = [max(1, c) for c in split(clients, generators)]
    session_id, exercise_id = str(uuid.uuid4()), str(uuid.uuid4())
    notes = [
        f"{clients} clients in {generators} generator processes post batches of {batch} "
        "pose.sample events in closed loops; rows/s counts acknowledged rows.",
    ]
    if opts.url:
        common = {"nonce": nonce, "session_id": session_id, "exercise_id": exercise_id,
                  "batch": batch, "duration": duration}  # fmt: skip
        return await remote(opts, common, per_gen)
    async with live_stack() as server:
        dsn = server.dsn
        org, patient = await _seed(dsn)
        common = {"nonce": nonce, "session_id": session_id, "exercise_id": exercise_id,
                  "batch": batch, "duration": duration}  # fmt: skip
        base = server.base
        bearer = token(org, Role.PATIENT, patient_id=patient)
        ws_served = await _ws_op_served(base, bearer)
        args = [{**common, "base": base, "token": bearer, "clients": c} for c in per_gen]
        data, reports, wall = await _drive(
            "bench.scenarios.telemetry:client_gen", args, "telemetry REST", duration
        )
        stored, stored_rows = await stored_events(dsn, org)
        # The peer after the server is gone: it gets the machine the server path had.
        raw_nonce = secrets.randbits(63)
        raw_args = [
            {**common, "nonce": raw_nonce, "dsn": dsn, "clients": c, "org_id": str(org),
             "patient_id": str(patient)}
            for c in split(max(generators, min(clients, 4)), generators)
        ]  # fmt: skip
        raw, raw_reports, raw_wall = await _drive(
            "bench.scenarios.telemetry:copy_gen", raw_args, "raw COPY", duration
        )
    acked = {
        event_id(nonce, i, first + k)
        for i, d in enumerate(data)
        for first, n in d["acked"]
        for k in range(n)
    }
    acked_rows = len(acked)
    missing = len(acked - stored)
    statuses: dict[str, int] = {}
    for d in data:
        for k, v in d["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    points = [p for d in data for p in d["points"]]
    raw_points = [p for d in raw for p in d["points"]]
    lat = [ms for _, ms in points]
    raw_lat = [ms for _, ms in raw_points]
    rows_per_s = acked_rows / wall
    raw_rows = sum(d["rows"] for d in raw)
    raw_per_s = raw_rows / raw_wall
    figures = {
        "rows_per_s": rows_per_s,
        "batch_p50_ms": percentile(lat, 50),
        "batch_p99_ms": percentile(lat, 99),
        "rows_acknowledged": float(acked_rows),
        "rows_missing": float(missing),
        "rows_stored_unacknowledged": float(len(stored - acked)),
        "retries": float(statuses.get("429", 0) + statuses.get("503", 0)),
    }
    if ws_served:
        notes.append(
            "The gateway serves the WebSocket `telemetry` op; this scenario measures REST only "
            "so far."
        )
    else:
        notes.append(
            "WebSocket path not measured: the gateway does not serve the `telemetry` op yet."
        )
    notes.append(f"HTTP statuses: {statuses}")
    return Result(
        scenario="telemetry",
        parameters={
            "clients": clients,
            "generators": generators,
            "batch": batch,
            "duration_s": duration,
            "event_type": "pose.sample",
        },  # fmt: skip
        figures=figures,
        baseline_name="raw asyncpg copy_records_to_table",
        baseline={
            "rows_per_s": raw_per_s,
            "batch_p50_ms": percentile(raw_lat, 50),
            "batch_p99_ms": percentile(raw_lat, 99),
            "rows_acknowledged": float(raw_rows),
        },
        ratios={"rows_per_s": rows_per_s / raw_per_s if raw_per_s else 0.0},
        goals=[
            Goal("rows_per_s", ">=", 50_000, "rows/s"),
            Goal("ratio:rows_per_s", ">=", 0.5, "x COPY"),
        ],
        checks={
            "every_acknowledged_row_stored": missing == 0 and acked_rows > 0,
            "stored_exactly_once": stored_rows == len(stored),
            "no_partial_batches": statuses.get("partial", 0) == 0,
        },
        generators=reports + raw_reports,
        series={"cadence POST /v1/telemetry": lat, "raw COPY": raw_lat},
        timelines={
            "cadence POST /v1/telemetry": timeline(points),
            "raw COPY": timeline(raw_points),
        },
        notes=notes,
    )
