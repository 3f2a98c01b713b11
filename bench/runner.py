"""`cadence bench SCENARIO...|all [--quick] [--clients N] [--channels N] [--duration S] [--rate R]
[--url URL --token T] [--out DIR]`: runs scenarios, writes JSON per scenario and REPORT.md."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import server_process
from bench.schema import Result, Skip

# name -> module under bench.scenarios; each exposes `async def run(opts) -> Result` and may raise
# bench.schema.Skip with the reason it cannot run here. `all` runs them in this order.
SCENARIOS: dict[str, str] = {
    "events": "bench.scenarios.events",
    "slots": "bench.scenarios.slots",
    "holds": "bench.scenarios.holds",
    "contention": "bench.scenarios.contention",
    "login": "bench.scenarios.login",
    "booking": "bench.scenarios.booking",
    "booking_page": "bench.scenarios.booking_page",
    "telerehab_page": "bench.scenarios.telerehab_page",
    "waitlist": "bench.scenarios.waitlist",
    "webhooks": "bench.scenarios.webhooks",
    "documents": "bench.scenarios.documents",
    "exports": "bench.scenarios.exports",
    "fanout": "bench.scenarios.fanout",
    "connections": "bench.scenarios.connections",
    "telemetry": "bench.scenarios.telemetry",
    "pose": "bench.scenarios.pose",
    "mixed": "bench.scenarios.mixed",
    "chaos": "bench.scenarios.chaos",
}


@dataclass(frozen=True)
class Options:
    quick: bool = False
    clients: int | None = None
    channels: int | None = None
    duration: float | None = None
    rate: float | None = None
    url: str | None = None
    token: str | None = None
    out: Path = Path("bench/out")

    def pick(self, value: int | float | None, full: float, quick: float) -> float:
        if value is not None:
            return value
        return quick if self.quick else full


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cadence bench")
    p.add_argument("scenario", nargs="+", help="scenario names or 'all': " + ", ".join(SCENARIOS))
    p.add_argument("--quick", action="store_true", help="small scale, for smoke runs")
    p.add_argument("--clients", type=int)
    p.add_argument("--channels", type=int)
    p.add_argument("--duration", type=float)
    p.add_argument("--rate", type=float)
    p.add_argument("--url", help="target a running deployment instead of starting a server")
    p.add_argument("--token", help="access token for --url")
    p.add_argument("--out", type=Path, default=Path("bench/out"))
    return p


async def run_one(name: str, opts: Options) -> Result:
    """One scenario; a Skip or a crash becomes a Result, so `all` goes on with the next one."""
    params = {"quick": opts.quick, "url": opts.url}
    started = time.monotonic()
    try:
        module = importlib.import_module(SCENARIOS[name])
        result: Result = await module.run(opts)
    except Skip as skip:
        result = Result.skipped(name, str(skip), params)
    except Exception as exc:  # noqa: BLE001 - reported loudly, and the exit status says so
        tail = traceback.format_exc().strip().splitlines()[-12:]
        print("\n".join(tail), file=sys.stderr)
        result = Result.failed(name, f"{type(exc).__name__}: {exc}", params)
    result.elapsed_s = round(time.monotonic() - started, 1)
    return result


async def run_scenarios(names: Sequence[str], opts: Options) -> list[Result]:
    # Quick runs share one scratch database + server between the scenarios that need one (a
    # server start costs more than a quick scenario); full runs give each its own.
    own = opts.quick and not server_process.sharing()
    if own:
        server_process.share_servers()
    try:
        return await _run_all(names, opts)
    finally:
        if own:
            await server_process.close_shared()


async def _run_all(names: Sequence[str], opts: Options) -> list[Result]:
    results = []
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} ...", file=sys.stderr, flush=True)
        result = await run_one(name, opts)
        opts.out.mkdir(parents=True, exist_ok=True)
        (opts.out / f"{name}.json").write_text(json.dumps(result.to_json(), indent=2))
        if result.status != "ok":
            status = "; ".join(result.notes[:1]) or result.status
        elif not result.ok:
            broken = [k for k, v in result.checks.items() if not v]
            status = "INVARIANT BROKEN: " + ", ".join(broken)
        else:
            status = "ok" + (" (a load generator was saturated)" if result.saturated else "")
        print(
            f"[{i}/{len(names)}] {name}: {status} in {result.elapsed_s:.0f}s",
            file=sys.stderr,
            flush=True,
        )
        results.append(result)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    from bench import report

    args = _parser().parse_args(argv)
    names = list(SCENARIOS) if "all" in args.scenario else list(dict.fromkeys(args.scenario))
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(
            f"cadence bench: unknown scenario {unknown[0]!r}; choose from "
            f"{', '.join(SCENARIOS)} or all",
            file=sys.stderr,
        )
        return 2
    opts = Options(
        quick=args.quick,
        clients=args.clients,
        channels=args.channels,
        duration=args.duration,
        rate=args.rate,
        url=args.url,
        token=args.token,
        out=args.out,
    )
    results = asyncio.run(run_scenarios(names, opts))
    path = report.write(results, opts.out)
    print(f"report: {path}", file=sys.stderr)
    return 0 if all(r.ok for r in results) else 1
