"""Pose load: guided sessions at 30 fps through a real `cadence serve` process over WebSocket.

`await run(params) -> dict` measures, on this machine:
- `compute`: server compute per frame (guide + tracker on one-frame batches, the work a pose
  worker does per frame), p50/p95 in ms, in process; and the same plus the op's JSON decoding.
- `load`: N concurrent sessions (default 100), each a patient's WebSocket sending `pose` ops
  (`frames_per_op` frames each) at `fps` on a fixed schedule (open loop: a slow server does not
  slow the clients down), from `generators` processes (bench/generators.py: each reports its
  CPU and whether it saturated). Frame-to-feedback: each frame's capture -> the `ok` reply of
  its op (the worker has processed it and published its events; the wait for the op's later
  frames counts), p50/p95/p99; and capture of the frame that completed a rep -> its
  `rep.counted` event received. Also CPU of the server, its PoseWorkers and all it runs.
- `frame_path`: MediaPipe Pose (complexity 1) frames per second per core on JPEG frames of a
  real photograph, in process (decode + inference), and wall-clock frames per second.

Params (all optional): sessions, fps, duration_s, frames_per_op (frames a client batches per
`pose` op), generators, sets (distinct synthetic sets), frame_path_n, load_only.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import numpy as np
import orjson
import psutil
from aiohttp import WSMsgType

from bench.generators import Fleet, Link, split
from bench.server_process import live_stack, token
from bench.stats import percentile
from pipelines.pose import EXERCISES, SyntheticOptions, SyntheticSet, synthesize_set
from storage.db import create_pool
from storage.orm import bound
from storage.types import Role

DEFAULTS: dict[str, Any] = {
    "sessions": 100,
    "fps": 30.0,
    "duration_s": 20.0,
    "sets": 8,
    "frames_per_op": 2,
    "generators": 2,
    "encoding": "binary",  # `pose.landmarks` (float32); "json": the `pose` op
    "frame_path_n": 120,
}


def _pcts(samples: list[float]) -> dict[str, float | int]:
    return {
        "n": len(samples),
        "p50": round(percentile(samples, 50), 3),
        "p95": round(percentile(samples, 95), 3),
        "p99": round(percentile(samples, 99), 3),
        "max": round(max(samples), 3) if samples else float("nan"),
    }


def _sets(n: int) -> list[SyntheticSet]:
    opts = SyntheticOptions(reps=12, aspect_ratio=16 / 9, noise_deg=1.5, tempo_jitter=0.2)
    return [synthesize_set("squat", opts, seed=100 + i) for i in range(n)]


# --- compute per frame (in process) --------------------------------------------------------


def compute_per_frame(s: SyntheticSet) -> dict[str, Any]:
    from pipelines.session import LiveSession, PlannedExercise, SessionPlan

    kin = EXERCISES["squat"].kinematics.to_dict()
    plan = SessionPlan((PlannedExercise(0, str(uuid.uuid4()), "Squat", 1, 100, 0, kin),))
    live = LiveSession(plan)
    live.start(0.0)
    bodies = [
        orjson.dumps({"frames": [{"t": float(t), "landmarks": lm.tolist()}]})
        for t, lm in zip(s.t_ms, s.landmarks, strict=True)
    ]
    pipeline, with_decode = [], []
    for i, body in enumerate(bodies):
        started = time.perf_counter()
        frame = orjson.loads(body)["frames"]
        t = np.array([f["t"] for f in frame], dtype=np.float64)
        lm = np.array([f["landmarks"] for f in frame], dtype=np.float64)
        decoded = time.perf_counter()
        live.feed(float(i), t, lm, aspect=s.aspect_ratio)
        done = time.perf_counter()
        pipeline.append((done - decoded) * 1000)
        with_decode.append((done - started) * 1000)
    return {"pipeline_ms": _pcts(pipeline), "with_decode_ms": _pcts(with_decode),
            "goal_p95_ms": 2.0}  # fmt: skip


# --- frame path (in process) ---------------------------------------------------------------


def frame_path_fps(n: int) -> dict[str, Any]:
    from PIL import Image
    from skimage import data

    from pipelines.frames import PoseEstimator

    photo = Image.fromarray(data.astronaut())
    jpegs = []
    for i in range(16):  # small shifts, so the tracker follows a moving person
        buf = io.BytesIO()
        photo.crop((i * 4, 0, 512 - 64 + i * 4, 512)).save(buf, "JPEG", quality=85)
        jpegs.append(buf.getvalue())
    estimator = PoseEstimator()
    try:
        estimator.estimate_jpeg(jpegs[0])  # graph start-up is not per frame
        proc = psutil.Process()
        cpu0, wall0 = proc.cpu_times(), time.perf_counter()
        found = sum(estimator.estimate_jpeg(jpegs[i % len(jpegs)]).found for i in range(n))
        wall = time.perf_counter() - wall0
        cpu1 = proc.cpu_times()
    finally:
        estimator.close()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {
        "frames": n,
        "pose_found": found,
        "fps_wall": round(n / wall, 1),
        "fps_per_core": round(n / cpu, 1) if cpu > 0 else None,
        "ms_per_frame_wall": round(wall * 1000 / n, 2),
        "image": "scikit-image astronaut 448x512 JPEG",
    }


# --- load through a server -----------------------------------------------------------------


async def _world(base: str, dsn: str, n: int) -> tuple[uuid.UUID, list[tuple[uuid.UUID, str]]]:
    """An organization, n patients, a squat plan assigned to each: [(patient, assignment)]."""
    from server.telerehab.seed import ensure_global_exercises

    pool = await create_pool(dsn, min_size=1, max_size=1)  # with the JSON codecs
    try:
        async with pool.acquire() as conn, conn.transaction():
            org = await conn.fetchval(
                "INSERT INTO organizations (name, slug) VALUES ('Pose bench', $1) RETURNING id",
                "pose-" + uuid.uuid4().hex[:8],
            )
            patients = [
                await conn.fetchval(
                    "INSERT INTO patients (organization_id, first_name, last_name) "
                    "VALUES ($1, 'Bench', $2) RETURNING id",
                    org,
                    f"P{i}",
                )
                for i in range(n)
            ]
            # Camera sessions need the patient's consent (refused with consent_required else).
            await conn.executemany(
                "INSERT INTO patient_consents (organization_id, patient_id, purpose,"
                " policy_version, granted, channel)"
                " VALUES ($1, $2, 'telerehab_camera', 'bench', true, 'paper')",
                [(org, pid) for pid in patients],
            )
            with bound(conn):  # the library's Piccolo queries run on this transaction
                library = await ensure_global_exercises(conn)
    finally:
        await pool.close()
    admin = {"Authorization": f"Bearer {token(org, Role.ADMIN)}"}
    plan = {"name": "Bench squats", "sessions": [{"name": "A", "exercises": [
        {"exercise_id": str(library["squat"]), "sets": 1, "reps": 100, "rest_s": 0}]}]}  # fmt: skip
    out = []
    async with aiohttp.ClientSession(base, headers=admin) as http:
        async with http.post("/v1/treatment-plans", json=plan) as r:
            plan_id = (await r.json())["id"]
        async with http.post(f"/v1/treatment-plans/{plan_id}/publish") as r:
            assert r.status == 200, await r.text()
        today = datetime.now(UTC).date().isoformat()
        for pid in patients:
            body = {"plan_id": plan_id, "frequency": {"weekdays": [1, 2, 3, 4, 5, 6, 7]},
                    "starts_on": today}  # fmt: skip
            async with http.post(f"/v1/patients/{pid}/plan-assignments", json=body) as r:
                assert r.status == 201, await r.text()
                out.append((pid, (await r.json())["id"]))
    return org, out


def _fragments(s: SyntheticSet) -> list[bytes]:
    return [orjson.dumps(s.landmarks[i].round(5).tolist()) for i in range(len(s.t_ms))]


@dataclass(frozen=True)
class _Frames:
    """A set's frames, encoded once: float32 bytes (binary op) or JSON fragments (`pose`)."""

    binary: bool
    data: list[bytes]


@dataclass
class _Client:
    patient_id: uuid.UUID
    assignment_id: str
    session_id: str = ""
    captured: dict[int, list[float]] = field(default_factory=dict)  # op id -> frame captures
    frame_sent: dict[float, float] = field(default_factory=dict)  # frame t -> capture time
    feedback: list[float] = field(default_factory=list)  # frame capture -> its op's reply
    reps: list[float] = field(default_factory=list)  # rep frame capture -> rep.counted
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    answered: int = 0
    skipped: int = 0  # frames the server answered `overloaded` (it was behind; not run)
    closed: int | None = None  # the close code when the server closed the connection


async def _open(
    http: aiohttp.ClientSession, base: str, org: uuid.UUID, client: _Client
) -> aiohttp.ClientWebSocketResponse:
    auth = {"Authorization": f"Bearer {token(org, Role.PATIENT, client.patient_id)}"}
    body = {"assignment_id": client.assignment_id}
    async with http.post(base + "/v1/telerehab/sessions", json=body, headers=auth) as r:
        assert r.status == 201, await r.text()
        client.session_id = (await r.json())["id"]
    ws = await http.ws_connect(base + "/v1/ws", headers=auth, max_msg_size=2**22)
    channel = f"patient:{client.patient_id}"
    await ws.send_str(orjson.dumps({"id": 0, "op": "subscribe", "channel": channel}).decode())
    return ws


def _packed(s: SyntheticSet) -> list[bytes]:
    """Each frame's landmarks as the binary op carries them: 33 x 4 float32, little-endian."""
    return [s.landmarks[i].astype("<f4").tobytes() for i in range(len(s.t_ms))]


def _op(client: _Client, s: SyntheticSet, frames: _Frames, op: int, first: int, last: int) -> bytes:
    if frames.binary:
        head = orjson.dumps({"id": op, "op": "pose.landmarks", "session_id": client.session_id,
                             "aspect": s.aspect_ratio,
                             "t": [float(s.t_ms[i]) for i in range(first, last + 1)]})  # fmt: skip
        body = b"".join(frames.data[first : last + 1])
        return len(head).to_bytes(4, "big") + head + body
    parts = [b'{"t":' + repr(float(s.t_ms[i])).encode() + b',"landmarks":' + frames.data[i] + b"}"
             for i in range(first, last + 1)]  # fmt: skip
    head = b'{"id":%d,"op":"pose","session_id":"%s","aspect":%r,"frames":[' % (
        op, client.session_id.encode(), s.aspect_ratio)  # fmt: skip
    return head + b",".join(parts) + b"]}"


async def _stream(
    ws: aiohttp.ClientWebSocketResponse, client: _Client, s: SyntheticSet, frames: _Frames,
    p: Mapping[str, Any], start: float,
) -> None:  # fmt: skip
    fps, per_op = float(p["fps"]), int(p["frames_per_op"])
    kind = WSMsgType.BINARY if frames.binary else WSMsgType.TEXT
    total = min(len(s.t_ms), int(float(p["duration_s"]) * fps))
    # Frame i is captured at start + i / fps; an op leaves when its last frame is captured.
    # Latencies count from each frame's capture (open loop: a slow server does not slow the
    # clients down, and the wait for the op's later frames counts too).
    for op, first in enumerate(range(0, total - per_op + 1, per_op), start=1):
        last = first + per_op - 1
        delay = start + last / fps - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        captures = [start + i / fps for i in range(first, last + 1)]
        for i, captured in zip(range(first, last + 1), captures, strict=True):
            client.frame_sent[float(s.t_ms[i])] = captured
        if ws.closed:  # the server closed it (4029: it fell behind): counted, not fatal
            client.closed = ws.close_code
            return
        client.captured[op] = captures
        client.sent += per_op
        try:
            await ws.send_frame(_op(client, s, frames, op, first, last), kind)
        except (aiohttp.ClientError, ConnectionError):
            client.closed = ws.close_code or -1
            return


async def _read(ws: aiohttp.ClientWebSocketResponse, client: _Client) -> None:
    async for msg in ws:
        now = time.perf_counter()
        frame = orjson.loads(msg.data)
        op = frame.get("op")
        if op == "event":
            if frame.get("type") == "rep.counted":
                sent = client.frame_sent.get(frame["data"].get("t"))
                if sent is not None:
                    client.reps.append((now - sent) * 1000)
        elif op == "ok" and (captures := client.captured.pop(frame.get("id"), None)):
            client.answered += len(captures)
            client.feedback.extend((now - c) * 1000 for c in captures)
        elif op == "error":
            code = frame["error"]["code"]
            captures = client.captured.pop(frame.get("id"), None)
            if code == "overloaded" and captures:  # answered: skipped by design, not a fault
                client.skipped += len(captures)
                continue
            client.errors[code] = client.errors.get(code, 0) + 1


async def pose_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """One generator process: its share of the sessions, each on its own WebSocket."""
    p = arg["params"]
    sets = _sets(int(p["sets"]))
    binary = p["encoding"] == "binary"
    frags = [_Frames(binary, _packed(s) if binary else _fragments(s)) for s in sets]
    clients = [_Client(uuid.UUID(pid), aid) for pid, aid in arg["clients"]]
    org, base = uuid.UUID(arg["org"]), arg["base"]
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as http:
        sockets = [await _open(http, base, org, c) for c in clients]
        pairs = list(zip(sockets, clients, strict=True))
        readers = [asyncio.create_task(_read(ws, c)) for ws, c in pairs]
        await asyncio.sleep(0.5)  # the subscribe replies
        await link.ready()
        await link.wait_go()
        start = time.perf_counter() + 0.1
        await asyncio.gather(*(
            _stream(ws, c, sets[(arg["first"] + i) % len(sets)],
                    frags[(arg["first"] + i) % len(sets)], p, start)
            for i, (ws, c) in enumerate(zip(sockets, clients, strict=True))
        ))  # fmt: skip
        await asyncio.sleep(1.5)  # the last replies
        for r in readers:
            r.cancel()
        for ws in sockets:
            await ws.close()
    errors: dict[str, int] = {}
    for c in clients:
        for code, k in c.errors.items():
            errors[code] = errors.get(code, 0) + k
    return {
        "feedback": [x for c in clients for x in c.feedback],
        "reps": [x for c in clients for x in c.reps],
        "errors": errors,
        "sent": sum(c.sent for c in clients),
        "answered": sum(c.answered for c in clients),
        "skipped": sum(c.skipped for c in clients),
        "closed": [c.closed for c in clients if c.closed is not None],
    }


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            t = proc.cpu_times()
        except psutil.Error:  # a process that went away
            continue
        total += t.user + t.system
    return total


def _stack(server_pid: int) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """(the server's descendants: Ray's raylet, GCS and actors; its PoseWorker actors, which
    Ray names `ray::PoseWorker`). The server started Ray itself, so nothing else is counted."""
    try:
        below = psutil.Process(server_pid).children(recursive=True)
    except psutil.Error:
        return [], []
    workers = []
    for proc in below:
        try:
            if " ".join(proc.cmdline()).startswith("ray::PoseWorker"):
                workers.append(proc)
        except psutil.Error:
            continue
    return below, workers


async def load(
    base: str,
    dsn: str,
    server_pid: int,
    p: Mapping[str, Any],
    *,
    before_go: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, Any]:
    """`before_go`: awaited once every session is connected, before frames flow (the mixed
    day starts its other loads there, so all run in the same window)."""
    n, fps, duration = int(p["sessions"]), float(p["fps"]), float(p["duration_s"])
    per_op, gens = int(p["frames_per_op"]), max(1, int(p["generators"]))
    org, assigned = await _world(base, dsn, n)
    args, first = [], 0
    for share in split(n, gens):
        mine = [(str(pid), aid) for pid, aid in assigned[first : first + share]]
        args.append({"params": dict(p), "clients": mine, "first": first, "org": str(org),
                     "base": base})  # fmt: skip
        first += share
    async with Fleet("bench.pose_load:pose_gen", args, "pose clients") as fleet:
        await fleet.ready(within_s=120 + n)
        await asyncio.sleep(1.0)  # session start-up work settles
        if before_go is not None:
            await before_go()
        server = psutil.Process(server_pid)
        below, workers = _stack(server_pid)
        s0, w0, r0 = _cpu_s([server]), _cpu_s(workers), _cpu_s(below)
        t0 = time.perf_counter()
        data = await fleet.results(within_s=duration + 120)
        s1, w1, r1 = _cpu_s([server]), _cpu_s(workers), _cpu_s(below)
        wall = time.perf_counter() - t0
        reports = fleet.reports
    feedback = [x for d in data for x in d["feedback"]]
    reps = [x for d in data for x in d["reps"]]
    errors: dict[str, int] = {}
    for d in data:
        for code, k in d["errors"].items():
            errors[code] = errors.get(code, 0) + k
    sent, answered = sum(d["sent"] for d in data), sum(d["answered"] for d in data)
    skipped = sum(d["skipped"] for d in data)
    return {
        "sessions": n,
        "fps": fps,
        "duration_s": duration,
        "frames_per_op": per_op,
        "encoding": p["encoding"],
        "frames_sent": sent,
        "frames_answered": answered,
        "frames_skipped": skipped,
        "frames_unanswered": sent - answered - skipped,
        "frames_per_s": round(answered / max(duration, 1e-9), 1),
        "errors": errors,
        "connections_closed": [code for d in data for code in d["closed"]],
        "reps_counted": len(reps),
        "frame_to_feedback_ms": _pcts(feedback),
        "rep_feedback_ms": _pcts(reps),
        "goal_p99_ms": 100.0,
        # CPU over the whole window (load + the last replies), in cores (100% = one core)
        "server_cpu_percent": round(100 * (s1 - s0) / wall, 1),
        "pose_workers_cpu_percent": round(100 * (w1 - w0) / wall, 1),
        "pose_workers": len(workers),
        # everything the server runs: itself, Ray's raylet and GCS and every actor
        "server_stack_cpu_percent": round(100 * (s1 - s0 + r1 - r0) / wall, 1),
        "generators": reports,
        "generator_saturated": any(r["saturated"] for r in reports),
        "wall_s": round(wall, 2),
        "samples": {"feedback": feedback, "reps": reps},
    }


async def run(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    p = {**DEFAULTS, **(params or {})}
    result: dict[str, Any] = {"scenario": "pose", "cpus": psutil.cpu_count()}
    if p.get("load_only"):
        async with live_stack() as server:
            result["load"] = await load(server.base, server.dsn, server.pid, p)
        return result
    result["compute"] = await asyncio.to_thread(compute_per_frame, _sets(1)[0])
    result["frame_path"] = await asyncio.to_thread(frame_path_fps, int(p["frame_path_n"]))
    async with live_stack() as server:  # a scratch database and a `cadence serve` process
        result["load"] = await load(server.base, server.dsn, server.pid, p)
    return result


# python -m bench.pose_load [sessions] [duration_s] [frames_per_op] [generators]: the load only
if __name__ == "__main__":
    import json
    import sys

    args: dict[str, Any] = {"sessions": int(sys.argv[1])} if len(sys.argv) > 1 else {}
    if len(sys.argv) > 2:
        args["duration_s"] = float(sys.argv[2])
    if len(sys.argv) > 3:
        args["frames_per_op"] = int(sys.argv[3])
    if len(sys.argv) > 4:
        args["generators"] = int(sys.argv[4])
    if len(sys.argv) > 5:
        args["encoding"] = sys.argv[5]
    args["load_only"] = True
    out = asyncio.run(run(args))
    out["load"].pop("samples")
    print(json.dumps(out, indent=2))
