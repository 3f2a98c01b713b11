"""`mixed`: a clinic day on one server, everything at once.

- booking-page viewers: anonymous subscribers of the public calendars (the runner process);
- front-desk staff: hold -> book -> cancel cycles with think time (generator processes);
- telerehab sessions (default 100): each a patient posting its pose samples every second
  (generator processes). Pose frames over the WebSocket arrive with telerehab sessions; until
  then a session is its telemetry.

There is no single peer for a whole day: the isolated scenarios (booking, telemetry, fanout) are
the reference, and the figures here say how much each path degrades when they share the machine.
Checks: no double booking, every push seen by every viewer in order, viewers' snapshot + deltas
equal the final snapshot, every acknowledged telemetry row stored exactly once.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

from bench import clinic as cl
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
        try:
            async with (
                Fleet("bench.scenarios.booking:staff_gen", staff_args, "front desk") as desk,
                Fleet("bench.scenarios.telemetry:client_gen", tele_args, "sessions") as tele,
            ):
                await desk.ready()
                await tele.ready()
                meter.start()
                ticker = asyncio.create_task(Progress("clinic day", duration).tick(duration))
                started = time.monotonic()
                try:
                    desk_data, tele_data = await asyncio.gather(desk.results(), tele.results())
                finally:
                    ticker.cancel()
                wall = time.monotonic() - started
                cpu = meter.stop()
                reports = desk.reports + tele.reports
            await asyncio.sleep(1)
            push_checks = await watchers.finish()
        finally:
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
            "generators": generators * 2,
        },  # fmt: skip
        figures=figures,
        goals=[Goal("push_p99_ms", "<=", 30, "ms")],
        checks=checks,
        generators=reports + [{"name": "viewers (runner process)", "cpu_percent": round(cpu, 1)}],
        series={"front-desk cycle": desk_ms, "telemetry batch": tele_ms, "viewer push": push_ms},
        timelines={
            "front-desk cycle": timeline(desk_points),
            "telemetry batch": timeline(tele_points),
            "viewer push": timeline((t - t0, ms) for t, ms in push),
        },
        notes=[
            "No peer: a clinic day has none; compare with the isolated booking, telemetry and "
            "fanout scenarios of the same report.",
            f"Front-desk statuses: {statuses}; telemetry statuses: {tele_statuses}.",
            "Telerehab sessions send telemetry only here; the pose scenario measures pose frames.",
        ]
        + ([f"Unexpected statuses: {unexpected}"] if unexpected else []),
    )
