"""`documents`: PDFs rendered through the REST contract while the `holds` load runs, on one server.

Measured, in one run on one server and database:
- holds alone: the `holds` scenario's open loop (hold + release at a fixed rate, in generator
  processes) and its hold latency p50/p99;
- holds with documents: the same open loop while 4 requesters ask, one after another, for
  telerehab session reports never rendered before (`GET /v1/session-completions/{id}/document`:
  read the records, render with WeasyPrint in the renderer's worker process, store the PDF in
  object storage, answer a link): documents per second and their latency p50/p99, and the hold
  latency beside them.
The hold p99 with rendering over the hold p99 without is the figure that says whether a PDF
slows interactive work down (the renderer runs at a lower CPU priority, off the event loop).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bench.generators import Fleet
from bench.runner import Options
from bench.scenarios.holds import Target, _world, target
from bench.schema import Goal, Result
from bench.server_process import live_stack, token
from bench.stats import percentile
from server.telerehab.seed import ensure_global_exercises
from storage.db import create_pool
from storage.orm import bound
from storage.types import Role

REQUESTERS = 4


async def _sessions(base: str, dsn: str, org: uuid.UUID, count: int) -> list[str]:
    """A patient with a published plan assigned and `count` sessions done (a day apart, their
    range of motion rising): each one's report is a document never rendered before."""
    # The schema owner (global content, set-up only), with the server's codecs (binary jsonb).
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn, conn.transaction():
            with bound(conn):  # the seed's Piccolo queries run on this connection
                library = await ensure_global_exercises(conn)
    finally:
        await pool.close()
    admin = {"Authorization": f"Bearer {token(org, Role.ADMIN, ttl_s=7200)}"}
    async with aiohttp.ClientSession(base) as http:

        async def call(path: str, body: Any) -> Any:
            async with http.post(path, json=body, headers=admin) as r:
                if r.status not in (200, 201):
                    raise RuntimeError(f"POST {path}: {r.status} {await r.text()}")
                return await r.json()

        patient = await call("/v1/patients", {"first_name": "Bench", "last_name": "Reports"})
        exercises = [
            {"exercise_id": str(library[slug]), "sets": 3, "reps": 10, "rest_s": 60}
            for slug in ("squat", "heel_raise")
        ]
        plan = await call(
            "/v1/treatment-plans",
            {"name": "Bench knee plan", "sessions": [{"name": "A", "exercises": exercises}]},
        )
        await call(f"/v1/treatment-plans/{plan['id']}/publish", {})
        today = datetime.now(UTC).date()
        given = await call(
            f"/v1/patients/{patient['id']}/plan-assignments",
            {"plan_id": plan["id"], "frequency": {"weekdays": [1, 3, 5]},
             "starts_on": today.isoformat()},
        )  # fmt: skip
        first = datetime.now(UTC).replace(microsecond=0) - timedelta(days=count + 1)
        done = []
        for n in range(count):
            at = first + timedelta(days=n)
            rom = 50 + 40 * n / max(1, count - 1)
            body = {
                "session_index": 0,
                "started_at": (at - timedelta(minutes=20)).isoformat(),
                "completed_at": at.isoformat(),
                "exercises": [
                    {"position": 0, "exercise_id": exercises[0]["exercise_id"], "sets_done": 3,
                     "reps_done": 30, "duration_s": 400, "rom_min_deg": rom - 10,
                     "rom_mean_deg": rom, "rom_max_deg": rom + 8, "pain": n % 4},
                    {"position": 1, "exercise_id": exercises[1]["exercise_id"], "sets_done": 3,
                     "reps_done": 30, "duration_s": 300, "rom_mean_deg": rom / 3},
                ],
            }  # fmt: skip
            made = await call(f"/v1/plan-assignments/{given['id']}/completions", body)
            done.append(made["id"])
    return done


async def _request(
    http: aiohttp.ClientSession, headers: dict[str, str], completion: str
) -> tuple[int, float, dict[str, Any] | None]:
    started = time.perf_counter()
    async with http.get(f"/v1/session-completions/{completion}/document", headers=headers) as r:
        body = await r.json() if r.content_type == "application/json" else None
        return r.status, (time.perf_counter() - started) * 1000, body


async def _requesters(
    base: str, org: uuid.UUID, completions: list[str], duration: float, warmup: float
) -> dict[str, Any]:
    """`REQUESTERS` closed loops, each through its own share of the sessions, each report asked
    once (a new render every time); the first `warmup` seconds are not recorded."""
    latencies: list[float] = []
    rendered = refused = failed = 0
    sample: dict[str, Any] | None = None
    measured = time.monotonic() + warmup
    deadline = measured + duration
    headers = {"Authorization": f"Bearer {token(org, Role.ADMIN, ttl_s=7200)}"}

    async def worker(w: int) -> None:
        nonlocal rendered, refused, failed, sample
        for completion in completions[w::REQUESTERS]:
            begun = time.monotonic()
            if begun >= deadline:
                return
            status, ms, body = await _request(http, headers, completion)
            record = begun >= measured
            if status == 200:
                sample = sample or body
                if record:
                    latencies.append(ms)
                    rendered += 1
            elif status == 503:  # the renderer was full: its Retry-After, then the next one
                refused += record
                await asyncio.sleep(1)
            else:
                failed += 1

    async with aiohttp.ClientSession(base) as http:
        started = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(REQUESTERS)))
        elapsed = max(1e-9, min(time.monotonic(), deadline) - max(started, measured))
        pdf_ok = False
        if sample is not None:
            async with http.get(sample["url"]) as r:
                pdf_ok = r.status == 200 and (await r.read()).startswith(b"%PDF-")
    return {
        "latencies": latencies,
        "per_s": rendered / elapsed,
        "rendered": rendered,
        "refused": refused,
        "failed": failed,
        "ran_out": len(completions) <= rendered + refused + failed,
        "pdf_ok": pdf_ok,
    }


async def _holds(
    t: Target, rate: float, duration: float, warmup: float, docs: Any = None
) -> tuple[list[float], float, int, list[dict[str, Any]], Any]:
    """The holds scenario's open loop in 2 generator processes; `docs`, a coroutine started
    together with the generators' common start, runs beside it."""
    procs = 2
    args = [
        {"target": t, "mode": "open", "rate": rate / procs, "duration": duration,
         "in_flight": 256 // procs, "warmup": warmup}
        for _ in range(procs)
    ]  # fmt: skip
    async with Fleet("bench.scenarios.holds:load_gen", args, "holds open loop") as fleet:
        await fleet.ready()
        results = asyncio.create_task(fleet.results())
        beside = await docs if docs is not None else None
        data = await results
        reports = fleet.reports
    lat = [x for d in data for x in d["latencies"]]
    return lat, sum(d["rate"] for d in data), sum(d["errors"] for d in data), reports, beside


async def run(opts: Options) -> Result:
    duration = float(opts.pick(opts.duration, 20, 6))
    rate = float(opts.pick(opts.rate, 500, 100))
    warmup = float(opts.pick(None, 3, 1))
    sessions = int(opts.pick(None, 160, 50))
    async with live_stack() as server:
        world = await _world(server.base, server.dsn, 4, 15)
        t = target(world)
        completions = await _sessions(server.base, server.dsn, world.org_id, sessions + 1)
        # The renderer's worker process starts on its first render: not inside a measurement.
        async with aiohttp.ClientSession(server.base) as http:
            admin = {"Authorization": f"Bearer {token(world.org_id, Role.ADMIN)}"}
            status, first_ms, _ = await _request(http, admin, completions.pop())
            assert status == 200, status
        alone, alone_rate, alone_errors, rep_a, _ = await _holds(t, rate, duration, warmup)
        docs = _requesters(server.base, world.org_id, completions, duration, warmup)
        beside, beside_rate, beside_errors, rep_b, out = await _holds(
            t, rate, duration, warmup, docs
        )
    doc_lat = out["latencies"]
    hold_p99_alone = percentile(alone, 99)
    hold_p99_beside = percentile(beside, 99)
    figures = {
        "documents_per_s": out["per_s"],
        "document_p50_ms": percentile(doc_lat, 50),
        "document_p99_ms": percentile(doc_lat, 99),
        "documents_rendered": float(out["rendered"]),
        "documents_refused_503": float(out["refused"]),
        "hold_p50_ms": percentile(beside, 50),
        "hold_p99_ms": hold_p99_beside,
        "hold_rate": beside_rate,
        "hold_errors": float(beside_errors),
        "first_render_ms": first_ms,
    }
    baseline = {
        "hold_p50_ms": percentile(alone, 50),
        "hold_p99_ms": hold_p99_alone,
        "hold_rate": alone_rate,
        "hold_errors": float(alone_errors),
    }
    return Result(
        scenario="documents",
        parameters={
            "duration_s": duration,
            "warmup_s": warmup,
            "hold_rate": rate,
            "requesters": REQUESTERS,
            "renderer_workers": 1,
            "sessions": sessions,
        },
        figures=figures,
        baseline_name="the same holds open loop without rendering (same run, same server)",
        baseline=baseline,
        ratios={k: figures[k] / baseline[k] for k in ("hold_p50_ms", "hold_p99_ms") if baseline[k]},
        goals=[
            Goal("hold_p99_ms", "<=", 20, "ms"),
            Goal("documents_per_s", ">=", 1, "docs/s"),
        ],
        checks={
            "every_document_request_answered": out["failed"] == 0,
            "a_link_downloads_a_pdf": out["pdf_ok"],
            "each_request_was_a_new_render": not out["ran_out"],
        },
        generators=rep_a + rep_b,
        series={
            "document latency (GET .../document, new render)": doc_lat,
            "hold latency with documents": beside[:20000],
            "hold latency alone": alone[:20000],
        },
        notes=[
            "Each document request is a report never rendered before (a new session each time), "
            "so every one reads the records, renders (WeasyPrint, one worker process at a lower "
            "CPU priority), stores the PDF (the local blob store) and answers a link; a repeat "
            "of the same request would be a row lookup.",
            "Holds run as in the holds scenario (open loop, 2 generator processes); the server, "
            "its Ray actors, Postgres, Redis, the renderer and the generators share the machine.",
        ],
    )
