"""`mixed`: a clinic day on one server, everything at once.

- booking-page viewers: anonymous subscribers of the public calendars (the runner process);
- front-desk staff: hold -> book -> cancel cycles with think time (generator processes);
- telerehab sessions (default 100): each a patient posting its pose samples every second
  (generator processes);
- guided pose sessions (default 100 at 30 fps): patients exercising over the WebSocket, binary
  `pose.landmarks` frames answered with feedback (bench/pose_load.py's generators), while the
  front desk books.

There is no single peer for a whole day: the isolated scenarios (booking, telemetry, fanout) are
the reference, and the figures here say how much each path degrades when they share the machine.
Checks: no double booking, every push seen by every viewer in order, viewers' snapshot + deltas
equal the final snapshot, every acknowledged telemetry row stored exactly once, every pose frame
answered with no error and no connection closed.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections import Counter

from bench import clinic as cl
from bench import pose_load
from bench.generators import Fleet, split
from bench.progress import Progress
from bench.runner import Options
from bench.scenarios.booking import Watchers, booking_checks, merged
from bench.scenarios.telemetry import event_id, stored_events
from bench.schema import Goal, Result, Skip
from bench.server_process import live_stack
from bench.stats import CpuMeter, percentile, timeline
from storage.types import Role


async def run(opts: Options) -> Result:
    if opts.url:
        raise Skip("the day's invariants read the database: run without --url")
    duration = float(opts.pick(opts.duration, 45, 5))
    staff = int(opts.pick(opts.clients, 20, 4))
    viewers = int(opts.pick(opts.channels, 300, 10))  # per calendar
    sessions = int(opts.pick(None, 100, 10))
    pose_sessions = int(opts.pick(opts.rate, 100, 6))
    calendars = 3 if not opts.quick else 2
    generators = 2
    nonce = secrets.randbits(63)
    meter = CpuMeter()
    async with live_stack() as server:
        dsn = server.dsn
        clinic = await cl.build(
            server, calendars=calendars, specialists=3, patients=max(sessions, 10)
        )
        watchers = Watchers(server, clinic, viewers)
        await watchers.start()
        cal_args = [{"id": c.id, "starts": c.starts} for c in clinic.calendars]
        staff_args = [
            {"base": server.base, "duration": duration, "workers": k, "think_s": 0.5,
             "tokens": [clinic.bearer() for _ in range(k)], "patients": clinic.patients,
             "calendars": cal_args}
            for k in split(staff, generators)
        ]  # fmt: skip
        tele_args = []
        for i, k in enumerate(split(sessions, generators)):
            first = sum(split(sessions, generators)[:i])
            patients = clinic.patients[first : first + k]
            tele_args.append({
                "base": server.base, "duration": duration, "clients": k, "batch": 30,
                "interval_s": 1.0, "nonce": nonce, "session_id": str(uuid.uuid4()),
                "exercise_id": str(uuid.uuid4()),
                "tokens": [clinic.bearer(Role.PATIENT, p) for p in patients],
            })  # fmt: skip
        # The pose sessions connect first (their start-up is the slowest), then wait for `go`.
        pose_connected, go = asyncio.Event(), asyncio.Event()

        async def gate() -> None:
            pose_connected.set()
            await go.wait()

        pose_params = {**pose_load.DEFAULTS, "sessions": pose_sessions, "duration_s": duration}
        pose_task = asyncio.create_task(
            pose_load.load(server.base, dsn, server.pid, pose_params, before_go=gate)
        )
        try:
            await _first(pose_connected, pose_task)
            async with (
                Fleet("bench.scenarios.booking:staff_gen", staff_args, "front desk") as desk,
                Fleet("bench.scenarios.telemetry:client_gen", tele_args, "sessions") as tele,
            ):
                await desk.ready()
                await tele.ready()
                meter.start()
                go.set()
                ticker = asyncio.create_task(Progress("clinic day", duration).tick(duration))
                started = time.monotonic()
                try:
                    desk_data, tele_data, pose = await asyncio.gather(
                        desk.results(), tele.results(), pose_task
                    )
                finally:
                    ticker.cancel()
                wall = time.monotonic() - started
                cpu = meter.stop()
                reports = desk.reports + tele.reports + pose["generators"]
            await asyncio.sleep(1)
            push_checks = await watchers.finish()
        finally:
            pose_task.cancel()
            await watchers.stop()
        kept = [k for d in desk_data for k in d["kept"]]
        checks = {**await booking_checks(dsn, clinic.calendars, kept), **push_checks}
        stored, stored_rows = await stored_events(dsn, clinic.org_id)
    acked = {
        event_id(nonce, i, first + n)
        for i, d in enumerate(tele_data)
        for first, count in d["acked"]
        for n in range(count)
    }
    checks["every_acknowledged_row_stored"] = bool(acked) and not acked - stored
    checks["stored_exactly_once"] = stored_rows == len(stored)
    desk_points = [p for d in desk_data for p in d["points"]]
    tele_points = [p for d in tele_data for p in d["points"]]
    push = watchers.points()
    t0 = min((t for t, _ in push), default=0.0)
    push_ms = [ms for _, ms in push]
    desk_ms = [ms for _, ms in desk_points]
    tele_ms = [ms for _, ms in tele_points]
    statuses = merged(desk_data)
    tele_statuses = merged(tele_data)
    unexpected = {k: v for k, v in statuses.items() if k.split()[1] not in ("200", "201", "409")}
    checks["no_unexpected_statuses"] = not unexpected
    checks["every_pose_frame_answered"] = pose["frames_unanswered"] == 0
    checks["no_pose_error_or_close"] = not pose["errors"] and not pose["connections_closed"]
    f2f, reps = pose["frame_to_feedback_ms"], pose["rep_feedback_ms"]
    figures = {
        "booking_cycles_per_s": sum(d["cycles"] for d in desk_data) / wall,
        "booking_cycle_p50_ms": percentile(desk_ms, 50),
        "booking_cycle_p99_ms": percentile(desk_ms, 99),
        "push_p50_ms": percentile(push_ms, 50),
        "push_p99_ms": percentile(push_ms, 99),
        "viewers": float(viewers * calendars),
        "telemetry_rows_per_s": len(acked) / wall,
        "telemetry_batch_p50_ms": percentile(tele_ms, 50),
        "telemetry_batch_p99_ms": percentile(tele_ms, 99),
        "pose_frames_per_s": pose["frames_per_s"],
        # Answered `overloaded` and not run (the server was behind): not in the latencies.
        "pose_frames_skipped_pct": 100 * pose["frames_skipped"] / max(1, pose["frames_sent"]),
        "pose_frame_to_feedback_p50_ms": f2f["p50"],
        "pose_frame_to_feedback_p99_ms": f2f["p99"],
        "pose_rep_feedback_p99_ms": reps["p99"],
    }
    return Result(
        scenario="mixed",
        parameters={
            "duration_s": duration,
            "staff": staff,
            "viewers_per_calendar": viewers,
            "calendars": calendars,
            "telerehab_sessions": sessions,
            "session_samples_per_s": 30,
            "pose_sessions": pose_sessions,
            "pose_fps": pose_params["fps"],
            "generators": generators * 2,
        },  # fmt: skip
        figures=figures,
        goals=[
            Goal("push_p99_ms", "<=", 50, "ms"),
            Goal("booking_cycle_p99_ms", "<=", 150, "ms"),
            Goal("telemetry_batch_p99_ms", "<=", 500, "ms"),
            Goal("pose_frame_to_feedback_p99_ms", "<=", 100, "ms"),
        ],
        checks=checks,
        generators=reports + [{"name": "viewers (runner process)", "cpu_percent": round(cpu, 1)}],
        series={
            "front-desk cycle": desk_ms,
            "telemetry batch": tele_ms,
            "viewer push": push_ms,
            "pose frame to feedback": pose["samples"]["feedback"],
        },  # fmt: skip
        timelines={
            "front-desk cycle": timeline(desk_points),
            "telemetry batch": timeline(tele_points),
            "viewer push": timeline((t - t0, ms) for t, ms in push),
        },
        notes=[
            "No peer: a clinic day has none; compare with the isolated booking, telemetry and "
            "fanout scenarios of the same report.",
            f"Front-desk statuses: {statuses}; telemetry statuses: {tele_statuses}.",
            f"Pose sessions: {pose['frames_sent']} frames sent, {pose['frames_answered']} "
            f"answered, {pose['frames_skipped']} skipped as late (`overloaded`), "
            f"{pose['reps_counted']} reps counted; server CPU "
            f"{pose['server_cpu_percent']}%, pose workers {pose['pose_workers_cpu_percent']}%, "
            f"server stack {pose['server_stack_cpu_percent']}% (100% = one core).",
        ]
        + ([f"Unexpected statuses: {unexpected}"] if unexpected else [])
        + ([f"Pose error frames by code: {pose['errors']}"] if pose["errors"] else [])
        + (
            [f"Pose connections the server closed, by code: {closed}"]
            if (closed := Counter(pose["connections_closed"]))
            else []
        ),
    )


async def _first(ready: asyncio.Event, task: asyncio.Task[object]) -> None:
    """Until `ready` is set, or `task` ends first (then its error is raised here)."""
    waiter = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if not ready.is_set():
        task.result()  # raises what stopped it
        raise RuntimeError("the pose load ended before its sessions connected")
