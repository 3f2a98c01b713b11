"""`booking`: front-desk staff in several generator processes run hold -> book -> cancel cycles
(a share of bookings is kept) on a public calendar while subscribers watch its availability.

Peer, in the same run: the same cycles as a plain CRUD app does them, straight SQL against the
same tables (INSERT under the no-overlap exclusion constraint, UPDATE to cancel): no hold, no push.
Checks: no double booking (no two live appointments of a specialist overlap, and every booking
answered 201 and not cancelled is in the database as booked, nothing else is); every subscriber
saw every availability push in stream order; the subscriber that applied the deltas to its
snapshot ends with the server's snapshot.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from bench import clinic as cl
from bench.generators import Fleet, Link, split
from bench.progress import Progress
from bench.runner import Options
from bench.schema import Goal, Result, Skip
from bench.server_process import Server, stoppable_stack
from bench.stats import CpuMeter, Recorder, percentile, timeline
from storage.types import Channel, Role

KEEP = 0.2  # share of bookings kept: the rest are cancelled, freeing the slot again


async def staff_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """`workers` front-desk loops: hold a random slot, book it for a patient, cancel most."""
    rng = random.Random(index)
    rec = Recorder(cap=20_000, seed=index)
    statuses: dict[str, int] = {}
    kept: list[tuple[str, str, str]] = []  # (appointment id, start, specialist)
    cycles = [0]

    def count(op: str, status: int) -> None:
        statuses[f"{op} {status}"] = statuses.get(f"{op} {status}", 0) + 1

    async with aiohttp.ClientSession(arg["base"], connector=aiohttp.TCPConnector(limit=0)) as http:
        await link.ready()
        await link.wait_go()
        rec.t0 = time.perf_counter()
        deadline = time.monotonic() + arg["duration"]

        async def worker(w: int) -> None:
            headers = {"Authorization": f"Bearer {arg['tokens'][w]}"}
            patient = arg["patients"][w % len(arg["patients"])]
            while time.monotonic() < deadline:
                cal = rng.choice(arg["calendars"])
                t0 = time.perf_counter()
                body = {"calendar_id": cal["id"], "start": rng.choice(cal["starts"])}
                async with http.post("/v1/holds", json=body, headers=headers) as r:
                    count("hold", r.status)
                    hold = await r.json()
                if r.status == 201:
                    book = {"hold_id": hold["id"], "patient_id": patient}
                    async with http.post("/v1/appointments", json=book, headers=headers) as r:
                        count("book", r.status)
                        appt = await r.json()
                    if r.status == 201 and rng.random() < KEEP:
                        kept.append((appt["id"], appt["start"], appt["specialist_id"]))
                    elif r.status == 201:
                        path = f"/v1/appointments/{appt['id']}/cancel"
                        async with http.post(path, json={"reason": "bench"}, headers=headers) as r:
                            count("cancel", r.status)
                            await r.read()
                    rec.add((time.perf_counter() - t0) * 1000)
                    cycles[0] += 1
                if arg.get("think_s"):
                    await asyncio.sleep(rng.expovariate(1 / arg["think_s"]))

        await asyncio.gather(*(worker(w) for w in range(arg["workers"])))
    return {"kept": kept, "statuses": statuses, "cycles": cycles[0], "points": rec.points}


async def raw_gen(index: int, arg: dict[str, Any], link: Link) -> dict[str, Any]:
    """The peer: the same cycles in plain SQL (the exclusion constraint is the only guard)."""
    rng = random.Random(1000 + index)
    rec = Recorder(cap=20_000, seed=index)
    conns = [await asyncpg.connect(arg["dsn"]) for _ in range(arg["workers"])]
    cycles = [0]
    conflicts = [0]
    await link.ready()
    await link.wait_go()
    rec.t0 = time.perf_counter()
    deadline = time.monotonic() + arg["duration"]

    async def worker(conn: asyncpg.Connection) -> None:
        while time.monotonic() < deadline:
            row = rng.choice(arg["targets"])
            start = datetime.fromisoformat(rng.choice(row["starts"]).replace("Z", "+00:00"))
            t0 = time.perf_counter()
            try:
                appt = await conn.fetchval(
                    """INSERT INTO appointments (organization_id, calendar_id, service_id,
                           specialist_id, patient_id, starts_at, ends_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id""",
                    row["org"], row["calendar"], row["service"], rng.choice(row["specialists"]),
                    rng.choice(row["patients"]), start, start + timedelta(minutes=row["minutes"]),
                )  # fmt: skip
            except (asyncpg.ExclusionViolationError, asyncpg.DeadlockDetectedError):
                # Plain SQL has no single writer per calendar: concurrent inserts on the
                # exclusion constraint can deadlock; a real client would retry.
                conflicts[0] += 1
                continue
            if rng.random() >= KEEP:
                await conn.execute(
                    "UPDATE appointments SET status = 'cancelled', updated_at = now() "
                    "WHERE id = $1",
                    appt,
                )
            rec.add((time.perf_counter() - t0) * 1000)
            cycles[0] += 1

    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    return {"cycles": cycles[0], "conflicts": conflicts[0], "points": rec.points}


async def raw_targets(dsn: str, calendars: list[cl.Calendar]) -> list[dict[str, Any]]:
    """What the SQL peer needs to insert rows of the same calendars."""
    conn = await asyncpg.connect(dsn)
    try:
        out = []
        for cal in calendars:
            row = await conn.fetchrow(
                """SELECT c.organization_id, c.service_id, s.duration_min FROM calendars c
                   JOIN services s ON s.id = c.service_id WHERE c.id = $1""",
                uuid.UUID(cal.id),
            )
            specialists = await conn.fetch(
                "SELECT specialist_id FROM calendar_specialists WHERE calendar_id = $1",
                uuid.UUID(cal.id),
            )
            patients = await conn.fetch(
                "SELECT id FROM patients WHERE organization_id = $1", row["organization_id"]
            )
            out.append({
                "org": row["organization_id"], "calendar": uuid.UUID(cal.id),
                "service": row["service_id"], "minutes": row["duration_min"],
                "specialists": [r["specialist_id"] for r in specialists],
                "patients": [r["id"] for r in patients], "starts": cal.starts,
            })  # fmt: skip
        return out
    finally:
        await conn.close()


async def live_appointments(dsn: str, calendars: list[cl.Calendar]) -> tuple[set[str], int]:
    """The live (not cancelled, not no-show) appointments of `calendars` in the database, and
    how many pairs of them overlap for one specialist (a double booking)."""
    ids = [uuid.UUID(c.id) for c in calendars]
    conn = await asyncpg.connect(dsn)
    try:
        live = await conn.fetch(
            """SELECT id FROM appointments WHERE calendar_id = ANY($1::uuid[])
               AND status NOT IN ('cancelled', 'no_show')""",
            ids,
        )
        overlaps = await conn.fetchval(
            """SELECT count(*) FROM appointments a JOIN appointments b
               ON a.specialist_id = b.specialist_id AND a.id < b.id
               AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)
               WHERE a.calendar_id = ANY($1::uuid[])
               AND a.status NOT IN ('cancelled', 'no_show')
               AND b.status NOT IN ('cancelled', 'no_show')""",
            ids,
        )
    finally:
        await conn.close()
    return {str(r["id"]) for r in live}, int(overlaps)


async def clear_calendars(dsn: str, calendars: list[cl.Calendar]) -> None:
    """Cancel every appointment Cadence's run kept: the peer starts as Cadence did."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """UPDATE appointments SET status = 'cancelled', updated_at = now()
               WHERE calendar_id = ANY($1::uuid[]) AND status NOT IN ('cancelled', 'no_show')""",
            [uuid.UUID(c.id) for c in calendars],
        )
    finally:
        await conn.close()


async def booking_checks(
    dsn: str, calendars: list[cl.Calendar], kept: list[tuple[str, str, str]]
) -> dict[str, bool]:
    """No double booking, in the database and in what the clients were told."""
    live, overlaps = await live_appointments(dsn, calendars)
    told = [(start, spec) for _, start, spec in kept]
    return {
        "no_overlapping_live_appointments": overlaps == 0,
        "no_slot_granted_twice": len(told) == len(set(told)),
        "kept_bookings_are_exactly_the_stored_ones": live == {a for a, _, _ in kept},
    }


class Watchers:
    """`count` subscribers per calendar from the runner process; the first keeps the slots."""

    def __init__(self, server: Server, clinic: cl.Clinic, count: int) -> None:
        self.server, self.clinic, self.count = server, clinic, count
        self.by_calendar: dict[str, list[cl.Watcher]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._http = aiohttp.ClientSession(server.base, connector=aiohttp.TCPConnector(limit=0))
        self._headers = {"Authorization": f"Bearer {clinic.bearer(Role.RECEPTIONIST)}"}

    async def start(self) -> None:
        for cal in self.clinic.calendars:
            snap = await cl.slots(self._http, cal.id, self._headers)
            group = [cl.Watcher(keep=i == 0) for i in range(self.count)]
            group[0].slots = {s["start"]: s for s in snap["slots"]}
            self.by_calendar[cal.id] = group
            ready = [asyncio.Event() for _ in group]
            channel = Channel.calendar(uuid.UUID(cal.id)).name
            for w, event in zip(group, ready, strict=True):
                self._tasks.append(asyncio.create_task(
                    w.run(self._http, "/v1/ws", channel, snap["position"], event)))  # fmt: skip
            async with asyncio.timeout(120):
                for event in ready:
                    await event.wait()

    async def finish(self) -> dict[str, bool]:
        """Settle on each calendar's final snapshot; the push invariants."""
        consistent, complete, ordered = True, True, True
        for cal in self.clinic.calendars:
            final = await cl.slots(self._http, cal.id, self._headers)
            group = self.by_calendar[cal.id]
            await cl.settle(group, final["position"]["offset"])
            consistent &= {s["start"]: s for s in final["slots"]} == group[0].slots
            complete &= all(w.events == group[0].events for w in group)
            ordered &= all(w.in_order for w in group)
        return {
            "snapshot_plus_deltas_equals_snapshot": consistent,
            "no_lost_pushes": complete,
            "pushes_in_order": ordered,
        }

    def points(self) -> list[tuple[float, float]]:
        return [p for g in self.by_calendar.values() for w in g for p in w.latencies]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.close()


async def drive(fleet: Fleet, label: str, duration: float) -> tuple[list[Any], float]:
    await fleet.ready()
    ticker = asyncio.create_task(Progress(label, duration).tick(duration))
    started = time.monotonic()
    try:
        data = await fleet.results()
    finally:
        ticker.cancel()
    return data, time.monotonic() - started


def merged(data: list[dict[str, Any]], key: str = "statuses") -> dict[str, int]:
    out: dict[str, int] = {}
    for d in data:
        for k, v in d[key].items():
            out[k] = out.get(k, 0) + v
    return out


async def run(opts: Options) -> Result:
    if opts.url:
        raise Skip("the double-booking check reads the database: run without --url")
    duration = float(opts.pick(opts.duration, 30, 4))
    workers = int(opts.pick(opts.clients, 32, 6))
    subscribers = int(opts.pick(opts.channels, 100, 10))
    generators = 2
    meter = CpuMeter()
    async with stoppable_stack() as (server, stop_server):
        dsn = server.dsn
        # Six weeks of slots: neither run fills them (each keeps a fifth of its bookings), so
        # cycles/s measures speed, not how soon a full calendar turns every try into a conflict.
        clinic = await cl.build(server, calendars=1, specialists=4, patients=20, days=42)
        watchers = Watchers(server, clinic, subscribers)
        await watchers.start()
        args = [
            {"base": server.base, "duration": duration, "workers": k,
             "tokens": [clinic.bearer() for _ in range(k)], "patients": clinic.patients,
             "calendars": [{"id": c.id, "starts": c.starts} for c in clinic.calendars]}
            for k in split(workers, generators)
        ]  # fmt: skip
        try:
            meter.start()
            async with Fleet("bench.scenarios.booking:staff_gen", args, "staff") as fleet:
                data, wall = await drive(fleet, "booking cycles", duration)
                reports = fleet.reports
            cpu = meter.stop()
            await asyncio.sleep(1)
            push_checks = await watchers.finish()
        finally:
            await watchers.stop()
        kept = [k for d in data for k in d["kept"]]
        checks = {**await booking_checks(dsn, clinic.calendars, kept), **push_checks}
        # The peer gets what Cadence had: the machine (the server stopped: its outbox and
        # consumers would react to the peer's rows) and the calendars empty again.
        await stop_server()
        await clear_calendars(dsn, clinic.calendars)
        targets = await raw_targets(dsn, clinic.calendars)
        raw_args = [
            {"dsn": dsn, "duration": duration, "workers": k, "targets": targets}
            for k in split(workers, generators)
        ]
        async with Fleet("bench.scenarios.booking:raw_gen", raw_args, "raw SQL") as fleet:
            raw, raw_wall = await drive(fleet, "raw SQL cycles", duration)
            raw_reports = fleet.reports
    points = [p for d in data for p in d["points"]]
    raw_points = [p for d in raw for p in d["points"]]
    push = watchers.points()
    t0 = min((t for t, _ in push), default=0.0)
    lat = [ms for _, ms in points]
    raw_lat = [ms for _, ms in raw_points]
    push_ms = [ms for _, ms in push]
    cycles = sum(d["cycles"] for d in data)
    raw_cycles = sum(d["cycles"] for d in raw)
    statuses = merged(data)
    figures = {
        "cycles_per_s": cycles / wall,
        "cycle_p50_ms": percentile(lat, 50),
        "cycle_p99_ms": percentile(lat, 99),
        "push_p50_ms": percentile(push_ms, 50),
        "push_p99_ms": percentile(push_ms, 99),
        "pushes_received": float(len(push_ms)),
        "bookings_kept": float(len(kept)),
        "hold_conflicts": float(statuses.get("hold 409", 0)),
    }
    baseline = {
        "cycles_per_s": raw_cycles / raw_wall,
        "cycle_p50_ms": percentile(raw_lat, 50),
        "cycle_p99_ms": percentile(raw_lat, 99),
        "hold_conflicts": float(sum(d["conflicts"] for d in raw)),
    }
    unexpected = {k: v for k, v in statuses.items() if k.split()[1] not in ("200", "201", "409")}
    checks["no_unexpected_statuses"] = not unexpected
    return Result(
        scenario="booking",
        parameters={
            "workers": workers,
            "generators": generators,
            "duration_s": duration,
            "subscribers": subscribers,
            "specialists": 4,
            "keep_share": KEEP,
        },  # fmt: skip
        figures=figures,
        baseline_name="plain SQL booking (no holds, no pushes)",
        baseline=baseline,
        ratios={k: figures[k] / v for k, v in baseline.items() if v and k in figures},
        goals=[
            Goal("push_p99_ms", "<=", 30, "ms"),
            Goal("ratio:cycles_per_s", ">=", 1.0, "x plain SQL"),
            Goal("ratio:cycle_p99_ms", "<=", 5.0, "x plain SQL"),
        ],
        checks=checks,
        generators=reports
        + raw_reports
        + [{"name": "subscribers (runner process)", "cpu_percent": round(cpu, 1)}],
        series={"cadence cycle": lat, "plain SQL cycle": raw_lat, "availability push": push_ms},
        timelines={
            "cadence cycle": timeline(points),
            "plain SQL cycle": timeline(raw_points),
            "availability push": timeline((t - t0, ms) for t, ms in push),
        },
        notes=[
            "A cycle: POST /v1/holds, POST /v1/appointments, then (80%) POST .../cancel; its "
            "latency spans the three calls. 409 on a hold is the slot being taken, not an error.",
            f"HTTP statuses: {statuses}",
            "Push latency: Redis time of the XADD (the stream offset) to receipt.",
            "The plain SQL peer runs as many clerks as Cadence, each on its own connection; an "
            "insert refused by the exclusion constraint (the slot is taken) is counted as a "
            "conflict, not as a cycle, as a 409 on a hold is for Cadence.",
            "The peer runs after Cadence's run, on the same calendars emptied again, with the "
            "server stopped (its outbox and consumers would react to the peer's rows).",
        ]
        + ([f"Unexpected statuses: {unexpected}"] if unexpected else []),
    )
