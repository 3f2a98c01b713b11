"""`telemetry`: rows per second from clients into Postgres, end to end (acknowledged only once
durably stored), beside raw asyncpg `copy_records_to_table` into a table of the same shape, in the
same run.

Two client paths on the same server: WebSocket clients (the realtime SDK,
`CadenceClient.send_telemetry`, the issue's headline figure) and `POST /v1/telemetry`. After an
unmeasured warm-up, the two paths and the peer run in turns, in rounds, so that load from
elsewhere on a shared machine falls on all three alike. Clients
send batches of `pose.sample` events (the high-volume type) in closed loops from several
generator processes; a refusal (429/503, `slow_down`) is retried with the same event ids after
its hint, as the SDK does. Check: every acknowledged event is stored exactly once (ids are
derived from a per-path nonce, the generator and a sequence number, so the check needs no id
lists between processes). Each phase also reports the CPU time that the server, the ingest
actors, Postgres and the generators spent per thousand rows: where the time goes, without a
profiler.
Goals: >= 50,000 rows/s end to end (WebSocket) and >= 50% of raw COPY.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import orjson
import psutil

from bench.generators import Fleet, Link, split
from bench.progress import Progress
from bench.runner import Options
from bench.schema import Goal, Result, Skip
from bench.server_process import live_stack, token
from bench.stats import Recorder, percentile, timeline
from realtime.client import CadenceClient, ClientError
from storage.db import _init_connection, database_name
from storage.telemetry import COLUMNS
from storage.types import Role

TABLE_SHAPE = "telemetry_events"
RAW_TABLE = "bench_raw_telemetry"
# The gateway's text frame limit is 64 KiB: 200 of these events (~265 bytes each) fit in one.
WS_BATCH = 200


def event_id(nonce: int, generator: int, seq: int) -> uuid.UUID:
    return uuid.UUID(int=(nonce << 64) | (generator << 40) | seq)


def event_id_text(nonce: int, generator: int, seq: int) -> str:
    """`str(event_id(...))` without building a UUID object: the generators make one per row,
    and a generator's CPU is taken from the machine the server runs on (the peer's too)."""
    h = f"{(nonce << 64) | (generator << 40) | seq:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _samples(exercise_id: str) -> list[dict[str, Any]]:
    # The 60 distinct sample payloads (`seq % 60`), built once and shared by every event.
    return [
        {
            "exercise_id": exercise_id,
            "angles": {"left_knee": 90.0 + k, "right_knee": 91.5},
            "visibility": 0.93,
        }
        for k in range(60)
    ]


def _events(arg: dict[str, Any], index: int, first: int, n: int) -> list[dict[str, Any]]:
    now_ms = int(time.time() * 1000)
    samples = arg.get("_samples") or _samples(arg["exercise_id"])
    nonce, session = arg["nonce"], arg["session_id"]
    return [
        {
            "id": event_id_text(nonce, index, seq),
            "type": "pose.sample",
            "t": now_ms,
            "session_id": session,
            "data": samples[seq % 60],
        }
        for seq in range(first, first + n)
    ]


async def ws_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """One generator process: `clients` SDK connections, each a closed loop sending batches of
    `batch` events with `send_telemetry` (which resends after a refusal's hint) until the
    deadline."""
    acked: list[tuple[int, int]] = []
    statuses: dict[str, int] = {}
    rec = Recorder(cap=20_000, seed=index)
    next_seq = [0]
    arg = {**arg, "_samples": _samples(arg["exercise_id"])}
    bearers = arg.get("tokens") or [arg["token"]]
    clients = [
        CadenceClient(arg["ws"], bearers[c % len(bearers)], call_timeout_s=30.0)
        for c in range(arg["clients"])
    ]
    await asyncio.gather(*(c.connect() for c in clients))
    try:
        await link.ready()
        await link.wait_go()
        rec.t0 = time.perf_counter()
        deadline = time.monotonic() + arg["duration"]

        async def loop(client: CadenceClient) -> None:
            while time.monotonic() < deadline:
                first = next_seq[0]
                next_seq[0] += arg["batch"]
                events = _events(arg, index, first, arg["batch"])
                t0 = time.perf_counter()
                try:
                    reply = await client.send_telemetry(events, give_up_after_s=60.0)
                except (ClientError, TimeoutError) as exc:
                    code = exc.code if isinstance(exc, ClientError) else "timeout"
                    statuses[code] = statuses.get(code, 0) + 1
                    continue
                rec.add((time.perf_counter() - t0) * 1000)
                statuses["ok"] = statuses.get("ok", 0) + 1
                if reply["accepted"] == arg["batch"] and not reply["rejected"]:
                    acked.append((first, arg["batch"]))
                else:
                    statuses["partial"] = statuses.get("partial", 0) + 1

        await asyncio.gather(*(loop(c) for c in clients))
    finally:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    reconnects = sum(c.connections - 1 for c in clients)
    return {"acked": acked, "sent": next_seq[0], "statuses": statuses, "points": rec.points,
            "reconnects": reconnects}  # fmt: skip


async def client_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """One generator process: `clients` closed loops posting `batch` events until the deadline."""
    acked: list[tuple[int, int]] = []
    statuses: dict[str, int] = {}
    rec = Recorder(cap=20_000, seed=index)
    next_seq = [0]
    arg = {**arg, "_samples": _samples(arg["exercise_id"])}
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
    samples = _samples(arg["exercise_id"])
    nonce = arg["nonce"]
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
            # Built as cheaply as the clients build theirs (ids as text, which asyncpg encodes
            # without a UUID object; shared payloads), so neither side's generator is favoured.
            records = [
                (org, patient, session, exercise, event_id_text(nonce, index, seq),
                 "pose.sample", now, now, samples[seq % 60])
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
            asyncio.timeout(20),
            aiohttp.ClientSession() as http,
            http.ws_connect(base + "/v1/ws", headers={"Authorization": f"Bearer {bearer}"}) as ws,
        ):
            await ws.send_json({"id": 1, "op": "telemetry", "events": []})
            async for msg in ws:
                frame = orjson.loads(msg.data)
                if frame.get("id") == 1:
                    return bool(frame.get("error", {}).get("code") != "unknown_op")
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return False
    return False


async def _seed(dsn: str, *, raw_table: bool = True) -> tuple[uuid.UUID, uuid.UUID]:
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
        # Analytics telemetry is opt-in: without this consent it is discarded, not stored.
        await conn.execute(
            """INSERT INTO patient_consents (organization_id, patient_id, purpose, policy_version,
                                             granted, channel)
               VALUES ($1, $2, 'analytics', 'bench', true, 'paper')""",
            org,
            patient,
        )
        if raw_table:
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


async def remote(opts: Options, common: dict[str, Any], per_gen: list[int]) -> Result:
    """--url: rows/s against a running deployment with the given token (a patient's or staff's).
    Without its database there is no peer and no storage check, only full acknowledgements."""
    assert opts.url, "run() calls remote() only with --url"
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


class CpuSplit:
    """CPU seconds the server process, the ingest actors and the scenario database's Postgres
    backends spent between `start` and `stop`; `other` is the rest of the machine's busy time
    (Ray and Redis daemons, and anything else running on this host: another bench, a test run).
    Generators measure themselves (`Fleet.reports`)."""

    def __init__(self, server_pid: int, database: str) -> None:
        self._server_pid = server_pid
        self._database = database
        self._kinds: dict[int, str] = {}

    def _kind(self, proc: psutil.Process) -> str | None:
        if proc.pid == self._server_pid:
            return "server"
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.Error:
            return None
        if "TelemetryIngest" in cmdline:
            return "ingest"
        if cmdline.startswith("postgres:") and f" {self._database} " in cmdline:
            return "postgres"
        return None

    def _snapshot(self) -> tuple[dict[int, tuple[str, float]], float]:
        seen: dict[int, tuple[str, float]] = {}
        for proc in psutil.process_iter():
            kind = self._kinds.get(proc.pid) or self._kind(proc)  # a Ray worker turns actor
            if kind is None:
                continue
            self._kinds[proc.pid] = kind
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            seen[proc.pid] = (kind, times.user + times.system)
        busy = psutil.cpu_times()
        return seen, busy.user + busy.system + busy.nice + busy.irq + busy.softirq

    def start(self) -> None:
        self._start, self._busy = self._snapshot()
        self._last = dict(self._start)
        self._sampler = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        # Connections that close before `stop` (the peer's) take their backend's CPU time with
        # them: remember each process's last reading.
        while True:
            await asyncio.sleep(0.5)
            seen, _ = await asyncio.to_thread(self._snapshot)
            self._last.update(seen)

    async def stop(self, generators: list[dict[str, Any]]) -> dict[str, float]:
        self._sampler.cancel()
        end, busy = await asyncio.to_thread(self._snapshot)
        self._last.update(end)
        split = {"server": 0.0, "ingest": 0.0, "postgres": 0.0}
        for pid, (kind, cpu) in self._last.items():
            before = self._start.get(pid)
            split[kind] += cpu - (before[1] if before else 0.0)  # a new backend counts from 0
        split["generators"] = sum(g["cpu_percent"] / 100 * g["wall_s"] for g in generators)
        split["other"] = max(0.0, busy - self._busy - sum(split.values()))
        return split


def _per_1k_rows(split: dict[str, float], rows: int) -> dict[str, float]:
    """CPU milliseconds per thousand rows, per component."""
    return {k: round(v * 1e6 / rows, 1) if rows else 0.0 for k, v in split.items()}


def _merge(data: list[dict[str, Any]]) -> dict[str, int]:
    statuses: dict[str, int] = {}
    for d in data:
        for k, v in d["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    return statuses


def _acked_ids(data: list[dict[str, Any]], nonce: int) -> set[uuid.UUID]:
    return {
        event_id(nonce, i, first + k)
        for i, d in enumerate(data)
        for first, n in d["acked"]
        for k in range(n)
    }


@dataclass
class _Phase:
    """One path measured in rounds (interleaved with the other paths, so that load from
    elsewhere on a shared machine falls on every path alike): what its generators returned, their
    CPU reports, its wall time and the CPU split of the machine while it ran."""

    name: str
    target: str
    rounds: list[tuple[int, list[dict[str, Any]]]] = field(default_factory=list)  # (nonce, data)
    reports: list[dict[str, Any]] = field(default_factory=list)
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    async def run(self, args: list[dict[str, Any]], meter: CpuSplit, seconds: float) -> None:
        nonce = secrets.randbits(63)  # event ids unique per round
        label = f"{self.name} #{len(self.rounds) + 1}"
        meter.start()
        data, reports, wall = await _drive(
            self.target, [{**a, "nonce": nonce} for a in args], label, seconds
        )
        for part, cpu_s in (await meter.stop(reports)).items():
            self.cpu[part] = self.cpu.get(part, 0.0) + cpu_s
        for d in data:  # one time axis across rounds
            d["points"] = [(t + self.wall, ms) for t, ms in d["points"]]
        self.rounds.append((nonce, data))
        self.reports += reports
        self.wall += wall

    @property
    def data(self) -> list[dict[str, Any]]:
        return [d for _, data in self.rounds for d in data]

    def acked(self) -> set[uuid.UUID]:
        return set().union(*(_acked_ids(data, nonce) for nonce, data in self.rounds))

    def latencies(self) -> tuple[list[tuple[float, float]], list[float]]:
        points = [p for d in self.data for p in d["points"]]
        return points, [ms for _, ms in points]


async def run(opts: Options) -> Result:
    duration = float(opts.pick(opts.duration, 20, 3))
    rounds = int(opts.pick(None, 2, 1))
    warm_up_s = float(opts.pick(None, 8, 1))
    clients = int(opts.pick(opts.clients, 16, 4))
    ws_clients = int(opts.pick(opts.clients, 64, 8))
    generators = int(opts.pick(None, 2, 2))
    batch = int(opts.pick(opts.rate, 500, 200))
    ws_batch = min(batch, WS_BATCH)
    per_gen = [max(1, c) for c in split(clients, generators)]
    session_id, exercise_id = str(uuid.uuid4()), str(uuid.uuid4())
    common = {"session_id": session_id, "exercise_id": exercise_id, "duration": duration / rounds}
    if opts.url:
        common["duration"] = duration
        return await remote(
            opts, {**common, "nonce": secrets.randbits(63), "batch": batch}, per_gen
        )
    notes = [
        f"WebSocket: {ws_clients} SDK clients (`CadenceClient.send_telemetry`) in {generators} "
        f"generator processes send batches of {ws_batch} pose.sample events in closed loops "
        f"(a 64 KiB text frame holds about {WS_BATCH}). REST: {clients} clients post batches of "
        f"{batch}. After a {warm_up_s:g} s warm-up, each path runs {duration:g} s in all, in "
        f"{rounds} rounds taken in turn (WebSocket, REST, raw COPY, then again), against the "
        "same server; rows/s counts acknowledged rows.",
    ]
    ws = _Phase("telemetry WebSocket", "bench.scenarios.telemetry:ws_gen")
    rest = _Phase("telemetry REST", "bench.scenarios.telemetry:client_gen")
    raw = _Phase("raw COPY", "bench.scenarios.telemetry:copy_gen")
    async with live_stack() as server:
        dsn = server.dsn
        org, patient = await _seed(dsn)
        bearer = token(org, Role.PATIENT, patient_id=patient)
        if not await _ws_op_served(server.base, bearer):
            raise Skip("the gateway does not serve the WebSocket `telemetry` op")
        ws_args = [{**common, "batch": ws_batch, "ws": server.ws, "token": bearer, "clients": c}
                   for c in split(ws_clients, generators)]  # fmt: skip
        rest_args = [{**common, "batch": batch, "base": server.base, "token": bearer,
                      "clients": c} for c in per_gen]  # fmt: skip
        raw_args = [
            {**common, "batch": batch, "dsn": dsn, "clients": c, "org_id": str(org),
             "patient_id": str(patient)}
            for c in split(max(generators, min(clients, 4)), generators)
        ]  # fmt: skip
        # Unmeasured, in an organization of its own: a server just started still has Ray's
        # daemons settling and the actors' connections to open; no path should pay for that.
        warm_org, warm_patient = await _seed(dsn, raw_table=False)
        warm_bearer = token(warm_org, Role.PATIENT, patient_id=warm_patient)
        await _drive(
            "bench.scenarios.telemetry:ws_gen",
            [{**a, "token": warm_bearer, "nonce": 0, "duration": warm_up_s} for a in ws_args],
            "warm-up",
            warm_up_s,
        )
        cadence_meter = CpuSplit(server.pid, database_name(dsn))
        raw_meter = CpuSplit(-1, database_name(dsn))  # the (idle) server is not the peer's
        for _ in range(rounds):
            await ws.run(ws_args, cadence_meter, duration / rounds)
            await rest.run(rest_args, cadence_meter, duration / rounds)
            await raw.run(raw_args, raw_meter, duration / rounds)
        stored, stored_rows = await stored_events(dsn, org)

    ws_acked, rest_acked = ws.acked(), rest.acked()
    acked = ws_acked | rest_acked
    missing = len(acked - stored)
    ws_statuses, statuses = _merge(ws.data), _merge(rest.data)
    ws_points, ws_lat = ws.latencies()
    points, lat = rest.latencies()
    raw_points, raw_lat = raw.latencies()
    ws_per_s = len(ws_acked) / ws.wall
    rest_per_s = len(rest_acked) / rest.wall
    raw_rows = sum(d["rows"] for d in raw.data)
    raw_per_s = raw_rows / raw.wall
    figures = {
        "rows_per_s": ws_per_s,
        "batch_p50_ms": percentile(ws_lat, 50),
        "batch_p99_ms": percentile(ws_lat, 99),
        "rows_acknowledged": float(len(ws_acked)),
        "rest_rows_per_s": rest_per_s,
        "rest_batch_p50_ms": percentile(lat, 50),
        "rest_batch_p99_ms": percentile(lat, 99),
        "rest_rows_acknowledged": float(len(rest_acked)),
        "rows_missing": float(missing),
        "rows_stored_unacknowledged": float(len(stored - acked)),
        "retries": float(statuses.get("429", 0) + statuses.get("503", 0)),
        "ws_reconnects": float(sum(d["reconnects"] for d in ws.data)),
    }
    cpu = {
        "ws": _per_1k_rows(ws.cpu, len(ws_acked)),
        "rest": _per_1k_rows(rest.cpu, len(rest_acked)),
        "raw": _per_1k_rows(raw.cpu, raw_rows),
    }
    # CPU per row of the processes each path needs (not `other`): the ratio the throughput
    # ratio would approach if each path had the machine to itself.
    own = {phase: sum(v for k, v in parts.items() if k != "other") for phase, parts in cpu.items()}
    for phase, parts in cpu.items():
        for part, ms in parts.items():
            figures[f"cpu_ms_per_1k_rows:{phase}:{part}"] = ms
        notes.append(
            f"CPU ms per 1,000 rows, {phase}: "
            + ", ".join(f"{part} {ms:g}" for part, ms in parts.items())
        )
    notes.append(f"WebSocket replies: {ws_statuses}; HTTP statuses: {statuses}")
    return Result(
        scenario="telemetry",
        parameters={
            "ws_clients": ws_clients,
            "ws_batch": ws_batch,
            "rest_clients": clients,
            "rest_batch": batch,
            "generators": generators,
            "duration_s": duration,
            "rounds": rounds,
            "event_type": "pose.sample",
        },  # fmt: skip
        figures=figures,
        baseline_name="raw asyncpg copy_records_to_table",
        baseline={
            "rows_per_s": raw_per_s,
            "rest_rows_per_s": raw_per_s,
            "batch_p50_ms": percentile(raw_lat, 50),
            "batch_p99_ms": percentile(raw_lat, 99),
            "rows_acknowledged": float(raw_rows),
        },
        ratios={
            "rows_per_s": ws_per_s / raw_per_s if raw_per_s else 0.0,
            "rest_rows_per_s": rest_per_s / raw_per_s if raw_per_s else 0.0,
            "own_cpu_per_row:ws": own["raw"] / own["ws"] if own["ws"] else 0.0,
            "own_cpu_per_row:rest": own["raw"] / own["rest"] if own["rest"] else 0.0,
        },
        goals=[
            Goal("rows_per_s", ">=", 50_000, "rows/s"),
            Goal("ratio:rows_per_s", ">=", 0.6, "x COPY"),
            Goal("ratio:rest_rows_per_s", ">=", 0.6, "x COPY"),
        ],
        checks={
            "every_acknowledged_row_stored": missing == 0 and bool(ws_acked) and bool(rest_acked),
            "stored_exactly_once": stored_rows == len(stored),
            "no_partial_batches": statuses.get("partial", 0) + ws_statuses.get("partial", 0) == 0,
        },
        generators=ws.reports + rest.reports + raw.reports,
        series={
            "cadence WebSocket telemetry": ws_lat,
            "cadence POST /v1/telemetry": lat,
            "raw COPY": raw_lat,
        },
        timelines={
            "cadence WebSocket telemetry": timeline(ws_points),
            "cadence POST /v1/telemetry": timeline(points),
            "raw COPY": timeline(raw_points),
        },
        notes=notes,
    )
