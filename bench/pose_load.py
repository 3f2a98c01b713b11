"""Pose load: guided sessions at 30 fps through a real `cadence serve` process over WebSocket.

`await run(params) -> dict` measures, on this machine:
- `compute`: server compute per frame (guide + tracker on one-frame batches, the work a pose
  worker does per frame), p50/p95 in ms, in process; and the same plus the op's JSON decoding.
- `load`: N concurrent sessions (default 100), each a patient's WebSocket sending `pose` ops
  (one per frame by default) at `fps` on a fixed schedule (open loop: a slow server does not
  slow the clients down). Frame-to-feedback: frame capture -> `ok` reply (the worker has
  processed the frame and published its events), p50/p95/p99; and capture of the frame that
  completed a rep -> its `rep.counted` event received. Also the client and server CPU.
- `frame_path`: MediaPipe Pose (complexity 1) frames per second per core on JPEG frames of a
  real photograph, in process (decode + inference), and wall-clock frames per second.

Params (all optional): sessions, fps, duration_s, frames_per_op (frames a client batches per
`pose` op), sets (distinct synthetic sets), frame_path_n.
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import numpy as np
import orjson
import psutil
import websockets

from bench.server_process import live_stack, token
from bench.stats import percentile
from pipelines.pose import EXERCISES, SyntheticOptions, SyntheticSet, synthesize_set
from storage.db import create_pool
from storage.types import Role

DEFAULTS: dict[str, Any] = {
    "sessions": 100,
    "fps": 30.0,
    "duration_s": 20.0,
    "sets": 8,
    "frames_per_op": 1,
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


@dataclass
class _Client:
    patient_id: uuid.UUID
    session_id: str = ""
    sent_at: dict[int, float] = field(default_factory=dict)  # op id -> send time
    frame_sent: dict[float, float] = field(default_factory=dict)  # frame t -> send time
    acks: list[float] = field(default_factory=list)
    feedback: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    reps: int = 0


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


async def _session(
    base: str, org: uuid.UUID, client: _Client, assignment: str, s: SyntheticSet,
    frags: list[bytes], fps: float, duration_s: float, per_op: int, go: asyncio.Event,
) -> None:  # fmt: skip
    auth = {"Authorization": f"Bearer {token(org, Role.PATIENT, client.patient_id)}"}
    async with aiohttp.ClientSession(base, headers=auth) as http:
        async with http.post("/v1/telerehab/sessions", json={"assignment_id": assignment}) as r:
            assert r.status == 201, await r.text()
            client.session_id = (await r.json())["id"]
    ws_url = base.replace("http", "ws", 1) + "/v1/ws"
    async with websockets.connect(ws_url, additional_headers=auth, max_size=2**22) as ws:
        channel = f"patient:{client.patient_id}"
        await ws.send(orjson.dumps({"id": 0, "op": "subscribe", "channel": channel}).decode())
        reader = asyncio.create_task(_read(ws, client))
        await go.wait()
        head = (f'"op":"pose","session_id":"{client.session_id}","aspect":{s.aspect_ratio},'
                '"frames":[').encode()  # fmt: skip
        start = time.perf_counter()
        frames = min(len(s.t_ms), int(duration_s * fps))
        # Frame i is captured at start + i / fps; an op leaves when its last frame is captured.
        # Latencies count from that capture time (open loop: client lateness counts too).
        for op, first in enumerate(range(0, frames - per_op + 1, per_op), start=1):
            last = first + per_op - 1
            captured = start + last / fps
            delay = captured - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            parts = []
            for i in range(first, last + 1):
                t = float(s.t_ms[i])
                client.frame_sent[t] = start + i / fps
                parts.append(b'{"t":' + repr(t).encode() + b',"landmarks":' + frags[i] + b"}")
            client.sent_at[op] = captured
            msg = b'{"id":%d,' % op + head + b",".join(parts) + b"]}"
            await ws.send(msg, text=True)  # bytes would go as a binary frame
        await asyncio.sleep(1.0)  # the last replies
        reader.cancel()


async def _read(ws: websockets.ClientConnection, client: _Client) -> None:
    async for raw in ws:
        now = time.perf_counter()
        frame = orjson.loads(raw)
        op = frame.get("op")
        if op == "event":
            if frame.get("type") == "rep.counted":
                client.reps += 1
                sent = client.frame_sent.get(frame["data"].get("t"))
                if sent is not None:
                    client.feedback.append((now - sent) * 1000)
        elif op == "ok" and (sent := client.sent_at.pop(frame.get("id"), None)) is not None:
            client.acks.append((now - sent) * 1000)
        elif op == "error":
            code = frame["error"]["code"]
            client.errors[code] = client.errors.get(code, 0) + 1


async def load(base: str, dsn: str, server_pid: int, p: Mapping[str, Any]) -> dict[str, Any]:
    n, fps, duration = int(p["sessions"]), float(p["fps"]), float(p["duration_s"])
    per_op = int(p["frames_per_op"])
    org, assigned = await _world(base, dsn, n)
    sets = _sets(int(p["sets"]))
    frags = [_fragments(s) for s in sets]
    clients = [_Client(pid) for pid, _ in assigned]
    go = asyncio.Event()
    tasks = [
        asyncio.create_task(_session(base, org, c, a, sets[i % len(sets)], frags[i % len(sets)],
                                     fps, duration, per_op, go))
        for i, (c, (_, a)) in enumerate(zip(clients, assigned, strict=True))
    ]  # fmt: skip
    await asyncio.sleep(min(30.0, 2.0 + 0.1 * n))  # sessions started, sockets subscribed
    server = psutil.Process(server_pid)
    me = psutil.Process()
    s0, m0, w0 = server.cpu_times(), me.cpu_times(), time.perf_counter()
    go.set()
    await asyncio.gather(*tasks)
    s1, m1, wall = server.cpu_times(), me.cpu_times(), time.perf_counter() - w0
    acks = [x for c in clients for x in c.acks]
    feedback = [x for c in clients for x in c.feedback]
    errors: dict[str, int] = {}
    for c in clients:
        for code, k in c.errors.items():
            errors[code] = errors.get(code, 0) + k
    sent = sum(min(len(sets[0].t_ms), int(duration * fps)) for _ in clients)
    return {
        "sessions": n,
        "fps": fps,
        "duration_s": duration,
        "frames_per_op": per_op,
        "frames_sent": sent,
        "ops_acked": len(acks),
        "frames_per_s": round(len(acks) * per_op / wall, 1),
        "errors": errors,
        "reps_counted": sum(c.reps for c in clients),
        "ack_ms": _pcts(acks),
        "rep_feedback_ms": _pcts(feedback),
        "goal_p99_ms": 100.0,
        "server_cpu_s": round((s1.user + s1.system) - (s0.user + s0.system), 2),
        "client_cpu_s": round((m1.user + m1.system) - (m0.user + m0.system), 2),
        "wall_s": round(wall, 2),
        "note": "server_cpu_s is the aiohttp process only; Ray pose workers are separate",
    }


async def run(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    p = {**DEFAULTS, **(params or {})}
    result: dict[str, Any] = {"scenario": "pose", "cpus": psutil.cpu_count()}
    result["compute"] = await asyncio.to_thread(compute_per_frame, _sets(1)[0])
    result["frame_path"] = await asyncio.to_thread(frame_path_fps, int(p["frame_path_n"]))
    async with live_stack() as server:  # a scratch database and a `cadence serve` process
        result["load"] = await load(server.base, server.dsn, server.pid, p)
    return result


if __name__ == "__main__":  # python -m bench.pose_load [sessions] [duration_s] [frames_per_op]
    import json
    import sys

    args = {"sessions": int(sys.argv[1])} if len(sys.argv) > 1 else {}
    if len(sys.argv) > 2:
        args["duration_s"] = float(sys.argv[2])
    if len(sys.argv) > 3:
        args["frames_per_op"] = int(sys.argv[3])
    print(json.dumps(asyncio.run(run(args)), indent=2))
