"""`chaos`: a clinic day on two `cadence serve` replicas behind HAProxy while faults are
injected in turn (bench/chaos_stack.py, everything private to the run): kill -9 of a calendar
shard actor and of a telemetry ingest actor, a Redis restart (AOF, SIGKILL or SIGTERM), a
PostgreSQL restart (`pg_ctl restart -m immediate` or `fast`), kill -9 of a replica (started
again on its port).

Load (bench/chaos_load.py): front-desk staff booking and cancelling, telerehab sessions posting
telemetry, anonymous subscribers of the public calendars through the SDK (they resume with
offset + epoch after every reconnect).

Checks: no double booking; every booking the clients got a 201 for is stored (and no booking
is stored that they were not told of, beyond requests left without an answer); no silent event
gap (each subscriber sees gapless offsets or an explicit `recovered: false` resync, both counted)
and every subscriber ends at its channel's newest event; every acknowledged telemetry row stored
exactly once; every fault injected and the service back after each (bench/chaos_recovery.py).
No peer: the goal is a bound on recovery time.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench import clinic as cl
from bench.chaos_load import Subscriber
from bench.chaos_recovery import Probe, Recovery
from bench.chaos_stack import ChaosStack, Fault, FaultFailed, chaos_stack
from bench.generators import Fleet, split
from bench.runner import Options
from bench.scenarios.booking import live_appointments, merged
from bench.scenarios.telemetry import event_id, stored_events
from bench.schema import Goal, Result, Skip
from realtime.client import Position
from storage.types import Channel, Role

PLAN = (Fault.CALENDAR_ACTOR, Fault.REDIS, Fault.INGEST_ACTOR, Fault.POSTGRES, Fault.REPLICA)
LEAD_S = 8.0  # load before the first fault
TAIL_S = 8.0  # load after the last fault's slot
RECOVERY_BOUND_S = 60.0  # a fault not recovered from by then counts as not recovered
GOAL_S = 30.0
CALENDARS = 2


async def run(opts: Options) -> Result:
    if opts.url:
        raise Skip("chaos starts and breaks its own services: run without --url")
    rounds = int(opts.pick(None, 2, 1))
    plan = list(PLAN) * rounds
    interval = float(opts.pick(opts.duration, 20 * len(plan), 10 * len(plan))) / len(plan)
    staff = int(opts.pick(opts.clients, 8, 4))
    viewers = int(opts.pick(opts.channels, 8, 3))  # per calendar
    sessions = int(opts.pick(None, 16, 6))
    day_s = LEAD_S + interval * len(plan) + TAIL_S
    async with chaos_stack() as stack:
        clinic = await cl.build(
            stack.server, calendars=CALENDARS, specialists=3, patients=max(sessions, 4)
        )
        day = await _clinic_day(stack, clinic, plan, interval, day_s, staff, sessions, viewers)
        figures, checks = await _check(stack, clinic, day)
    params = {
        "faults": [r.as_json() for r in day.recoveries], "day_s": round(day_s),
        "fault_interval_s": interval, "staff": staff, "telerehab_sessions": sessions,
        "subscribers": viewers * CALENDARS, "replicas": 2,
    }  # fmt: skip
    return Result(
        scenario="chaos",
        parameters=params,
        figures=figures,
        goals=[
            Goal("max_hold_recovery_s", "<=", GOAL_S, "s"),
            Goal("max_telemetry_recovery_s", "<=", GOAL_S, "s"),
            Goal("max_subscriber_resume_s", "<=", GOAL_S, "s"),
        ],
        checks=checks,
        generators=day.reports,
        notes=_notes(day),
    )


@dataclass
class Day:
    """What the day produced, for the checker."""

    recoveries: list[Recovery] = field(default_factory=list)
    desk: list[dict[str, Any]] = field(default_factory=list)  # staff_gen results
    tele: list[dict[str, Any]] = field(default_factory=list)  # tele_gen results
    subscribers: list[Subscriber] = field(default_factory=list)
    caught_up: bool = False
    nonce: int = field(default_factory=lambda: secrets.randbits(63))  # telemetry event ids
    reports: list[dict[str, Any]] = field(default_factory=list)  # generators' CPU


async def _clinic_day(
    stack: ChaosStack, clinic: cl.Clinic, plan: list[Fault], interval: float, day_s: float,
    staff: int, sessions: int, viewers: int,
) -> Day:  # fmt: skip
    day = Day()
    day.subscribers = await _subscribe(stack, clinic, viewers)
    probe = Probe(stack.server.base, clinic, day.subscribers)
    try:
        desk_args, tele_args = _load_args(stack, clinic, day, day_s, staff, sessions)
        async with (
            Fleet("bench.chaos_load:staff_gen", desk_args, "front desk") as desk,
            Fleet("bench.chaos_load:tele_gen", tele_args, "sessions") as tele,
        ):
            await desk.ready()
            await tele.ready()
            load = asyncio.gather(desk.results(), tele.results())
            try:
                day.recoveries = await _inject(stack, probe, plan, interval)
            except BaseException:
                load.cancel()  # the fleets' exit stops the generator processes
                raise
            day.desk, day.tele = await load
            day.reports = desk.reports + tele.reports
        await stack.replicas_ready()
        day.caught_up = await _caught_up(stack, clinic, day.subscribers)
    finally:
        await probe.close()
        await asyncio.gather(*(s.close() for s in day.subscribers), return_exceptions=True)
    return day


def _load_args(
    stack: ChaosStack, clinic: cl.Clinic, day: Day, day_s: float, staff: int, sessions: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    base = stack.server.base
    calendars = [{"id": c.id, "starts": c.starts} for c in clinic.calendars]
    desk = [
        {"base": base, "duration": day_s, "workers": k, "think_s": 0.3, "calendars": calendars,
         "tokens": [clinic.bearer() for _ in range(k)], "patients": clinic.patients}
        for k in split(staff, 2)
    ]  # fmt: skip
    tele = []
    first = 0
    for k in split(sessions, 2):
        patients = clinic.patients[first : first + k]
        first += k
        tele.append({
            "base": base, "duration": day_s, "clients": k, "batch": 30, "interval_s": 1.0,
            "nonce": day.nonce, "session_id": str(uuid.uuid4()), "exercise_id": str(uuid.uuid4()),
            "tokens": [clinic.bearer(Role.PATIENT, p) for p in patients],
        })  # fmt: skip
    return desk, tele


async def _subscribe(stack: ChaosStack, clinic: cl.Clinic, viewers: int) -> list[Subscriber]:
    out = []
    async with _admin(stack, clinic) as (http, headers):
        for cal in clinic.calendars:
            snap = await cl.slots(http, cal.id, headers)
            channel = str(Channel.calendar(uuid.UUID(cal.id)).name)
            since = Position.parse(snap["position"])
            out += [Subscriber(stack.balancer.ws, channel, since) for _ in range(viewers)]
    async with asyncio.timeout(60):
        await asyncio.gather(*(s.start() for s in out))
    return out


@contextlib.asynccontextmanager
async def _admin(
    stack: ChaosStack, clinic: cl.Clinic
) -> AsyncIterator[tuple[aiohttp.ClientSession, dict[str, str]]]:
    headers = {"Authorization": f"Bearer {clinic.bearer(Role.RECEPTIONIST)}"}
    async with aiohttp.ClientSession(stack.server.base) as http:
        yield http, headers


async def _inject(
    stack: ChaosStack, probe: Probe, plan: list[Fault], interval: float
) -> list[Recovery]:
    day0 = time.monotonic()
    out = []
    for i, fault in enumerate(plan):
        await asyncio.sleep(max(0.0, day0 + LEAD_S + i * interval - time.monotonic()))
        since, fault_ms = time.monotonic(), int(time.time() * 1000)
        at_s = round(since - day0, 1)
        try:
            how = await stack.inject(fault)
        except (FaultFailed, RuntimeError, OSError) as exc:
            out.append(Recovery(fault.value, fault.name.lower(), f"not injected: {exc}", at_s))
            continue
        recovery = Recovery(fault.value, fault.name.lower(), how, at_s)
        await probe.measure(recovery, since, fault_ms, RECOVERY_BOUND_S)
        if fault is Fault.REPLICA:  # both replicas up again before anything else breaks
            await stack.replicas_ready()
        print(
            f"  chaos {i + 1}/{len(plan)}: {fault.value} ({how}): hold {_s(recovery.hold_s)}, "
            f"telemetry {_s(recovery.telemetry_s)}, subscribers {_s(recovery.subscribers_s)}",
            file=sys.stderr,
            flush=True,
        )
        out.append(recovery)
    return out


async def _caught_up(stack: ChaosStack, clinic: cl.Clinic, subs: list[Subscriber]) -> bool:
    """Every subscriber reaches its channel's newest position (bounded): nothing is owed."""
    async with _admin(stack, clinic) as (http, headers):
        tops = {}
        for cal in clinic.calendars:
            snap = await cl.slots(http, cal.id, headers)
            tops[str(Channel.calendar(uuid.UUID(cal.id)).name)] = Position.parse(snap["position"])
    deadline = time.monotonic() + 30

    def behind() -> list[Subscriber]:
        return [
            s for s in subs
            if s.last.epoch != tops[s.channel].epoch or s.last.seq < tops[s.channel].seq
        ]  # fmt: skip

    while behind() and time.monotonic() < deadline:  # noqa: ASYNC110 - other tasks' state
        await asyncio.sleep(0.1)
    return not behind()


async def _check(
    stack: ChaosStack, clinic: cl.Clinic, day: Day
) -> tuple[dict[str, float], dict[str, bool]]:
    booked = [b for d in day.desk for b in d["booked"]]
    cancelled = {a for d in day.desk for a in d["cancelled"]}
    uncertain = {a for d in day.desk for a in d["uncertain"]}
    unknown_books = sum(d["unknown_books"] for d in day.desk)
    confirmed = {a for a, _, _ in booked}
    kept = [b for b in booked if b[0] not in cancelled | uncertain]
    live, overlaps = await live_appointments(stack.server.dsn, clinic.calendars)
    told = [(start, spec) for _, start, spec in kept]
    stored, stored_rows = await stored_events(stack.server.dsn, clinic.org_id)
    acked = {
        event_id(day.nonce, i, first + n)
        for i, d in enumerate(day.tele)
        for first, count in d["acked"]
        for n in range(count)
    }
    recovered = [r for r in day.recoveries if None not in (r.hold_s, r.telemetry_s,
                                                            r.subscribers_s)]  # fmt: skip
    checks = {
        "no_overlapping_live_appointments": overlaps == 0,
        "no_slot_granted_twice": len(told) == len(set(told)),
        "every_confirmed_booking_stored": bool(kept) and {a for a, _, _ in kept} <= live,
        "no_cancelled_booking_live": not cancelled & live,
        "no_unconfirmed_booking_stored": len(live - confirmed) <= unknown_books,
        "no_silent_event_gap": sum(s.gaps for s in day.subscribers) == 0,
        "subscribers_end_at_the_newest_event": day.caught_up,
        "every_acknowledged_row_stored": bool(acked) and not acked - stored,
        "stored_exactly_once": stored_rows == len(stored),
        "every_fault_injected": all(not r.how.startswith("not injected") for r in day.recoveries),
        "service_back_after_every_fault": len(recovered) == len(day.recoveries),
        # An outage is a 503 (or the balancer's 502/504 while a replica is down), never a 500.
        "no_internal_error": not any(
            k.endswith(" 500") for k in {**merged(day.desk), **merged(day.tele)}
        ),
    }
    return _figures(day, booked, kept, live, acked, stored_rows), checks


def _figures(
    day: Day, booked: list[Any], kept: list[Any], live: set[str], acked: set[uuid.UUID],
    stored_rows: int,
) -> dict[str, float]:  # fmt: skip
    nan = float("nan")

    def worst(values: list[float | None]) -> float:
        return nan if None in values or not values else max(v for v in values if v is not None)

    figures = {
        "faults": float(len(day.recoveries)),
        "max_hold_recovery_s": worst([r.hold_s for r in day.recoveries]),
        "max_telemetry_recovery_s": worst([r.telemetry_s for r in day.recoveries]),
        "max_subscriber_resume_s": worst([r.subscribers_s for r in day.recoveries]),
        "bookings_confirmed": float(len(booked)),
        "bookings_kept": float(len(kept)),
        "bookings_live_in_db": float(len(live)),
        "cancels_uncertain": float(sum(len(d["uncertain"]) for d in day.desk)),
        "books_without_answer": float(sum(d["unknown_books"] for d in day.desk)),
        "events_received": float(sum(s.events for s in day.subscribers)),
        "subscriber_reconnects": float(sum(s.reconnects for s in day.subscribers)),
        "resyncs": float(sum(s.resyncs for s in day.subscribers)),
        "silent_gaps": float(sum(s.gaps for s in day.subscribers)),
        "telemetry_rows_acked": float(len(acked)),
        "telemetry_rows_stored": float(stored_rows),
    }
    for i, r in enumerate(day.recoveries, 1):
        for what in ("hold_s", "telemetry_s", "subscribers_s"):
            value = getattr(r, what)
            figures[f"fault{i:02d}_{r.kind}_{what}"] = nan if value is None else round(value, 2)
    return figures


def _notes(day: Day) -> list[str]:
    lines = [
        "No peer: the goal is the time to recover from each fault. Recovery: time from the "
        "fault (before it is injected) until a hold through the load balancer is answered 201 "
        "on every calendar, a telemetry batch 200, and every calendar subscriber has an event "
        "published after it.",
        f"Front-desk statuses: {merged(day.desk)}; telemetry statuses: {merged(day.tele)}.",
    ]
    for i, r in enumerate(day.recoveries, 1):
        lines.append(
            f"Fault {i} at {r.at_s:.0f} s: {r.fault} ({r.how}): hold {_s(r.hold_s)}, "
            f"telemetry {_s(r.telemetry_s)}, subscribers {_s(r.subscribers_s)}."
        )
    return lines


def _s(value: float | None) -> str:
    return "not back within the bound" if value is None else f"{value:.2f} s"
