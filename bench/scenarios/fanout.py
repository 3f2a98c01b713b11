"""`fanout`: one channel, many subscribers, events published through Redis; Cadence's gateway
beside python-socketio with its Redis manager, both in their own processes on the same machine,
driven by the same raw-WebSocket load generators (bench/fanout.py, the gateway engineer's
harness). Figures per subscriber count: deliveries per second (burst publish) and publish-to-
receive latency p50/p99 (paced publish). Check: every subscriber received every event."""

from __future__ import annotations

from typing import Any

from bench.runner import Options
from bench.schema import Goal, Result, Skip

SWEEP_P99_MS = 100.0  # the paced rate reported is the highest with p99 within this


def _params(opts: Any) -> dict[str, Any]:
    top = int(opts.pick(opts.clients, 5000, 50))
    subscribers = sorted({max(1, top // 5), top}) if not opts.quick else [top]
    return {
        "subscribers": subscribers,
        "events": int(opts.pick(None, 100, 20)),
        "paced_events": int(opts.pick(None, 100, 20)),
        "rate": float(opts.pick(opts.rate, 20, 20)),
        # Paced rates tried at the largest count, ascending, up to the first whose p99 misses.
        "sweep": [1, 2, 4, 6, 8, 10, 12, 14, 16, 20] if not opts.quick else [10, 20],
        "sweep_s": 5.0,
        "sweep_p99_ms": SWEEP_P99_MS,
        "idle": 0,  # idle memory per connection: the `connections` scenario
        "loadgens": 2,
        "systems": ["cadence", "socketio"],
    }


def _cpu_report(system: str, n: int, mode: str, m: dict[str, Any], loadgens: int) -> dict[str, Any]:
    # bench/fanout.py sums its generators' CPU; spread evenly over the delivery span it is the
    # average share of a core each used.
    # Below a second of deliveries the share is noise (the CPU window also covers set-up).
    span = m["deliveries"] / m["deliveries_per_s"] if m["deliveries_per_s"] else 0.0
    report: dict[str, Any] = {"name": f"{system} n={n} {mode} (avg of {loadgens})"}
    report["cpu_s"] = m["loadgen_cpu_s"]
    if span >= 1.0:
        report["cpu_percent"] = round(100.0 * m["loadgen_cpu_s"] / loadgens / span, 1)
    return report


async def run(opts: Options) -> Result:
    if opts.url:
        raise Skip("fan-out starts both servers itself to compare them: run without --url")
    try:
        from bench import fanout
    except ImportError as exc:
        raise Skip(f"bench/fanout.py is not importable yet: {exc}") from None
    params = _params(opts)
    raw = await fanout.run(params)
    figures: dict[str, float] = {}
    peer: dict[str, float] = {}
    checks: dict[str, bool] = {}
    generators: list[dict[str, Any]] = []
    curves: dict[str, list[list[float]]] = {"cadence": [], "python-socketio": []}
    lost_peer = 0
    top = max(params["subscribers"])
    sweeps: dict[str, dict[str, Any]] = {}
    for system, target in (("cadence", figures), ("socketio", peer)):
        for n in params["subscribers"]:
            runs = raw[system][str(n)]
            burst, paced = runs["burst"], runs["paced"]
            target[f"deliveries_per_s@{n}"] = float(burst["deliveries_per_s"])
            target[f"p50_ms@{n}"] = paced["p50_ms"] if paced["p50_ms"] is not None else 0.0
            target[f"p99_ms@{n}"] = paced["p99_ms"] if paced["p99_ms"] is not None else 0.0
            target[f"server_cpu_s@{n}"] = float(burst["server_cpu_s"])
            name = "cadence" if system == "cadence" else "python-socketio"
            curves[name].append([float(n), float(burst["deliveries_per_s"])])
            if "sweep" in runs:
                sweeps[system] = runs["sweep"]
                target[f"max_paced_rate_within_p99@{top}"] = _max_rate(runs["sweep"])
            for mode in ("burst", "paced"):
                m = runs[mode]
                generators.append(_cpu_report(name, n, mode, m, params["loadgens"]))
                if system == "cadence":
                    checks[f"no_lost_deliveries_{mode}@{n}"] = m["deliveries"] == m["expected"]
                else:
                    lost_peer += m["expected"] - m["deliveries"]
    ratios = {k: figures[k] / peer[k] for k in figures if peer.get(k)}
    counts = params["subscribers"]
    notes = [
        "Deliveries/s from a burst of events to every subscriber; latency from a paced publish "
        f"({params['rate']:.0f} events/s). Servers: the gateway alone (bench/gateway_server.py, "
        "real token checks, no Postgres or Ray on this path) and python-socketio on aiohttp.",
        "The fan-out goal (at least the peer's deliveries/s) is the bench's own bar: the "
        "gateway issue names none.",
        "Ordering is not checked by this harness; counts are.",
        f"Rate sweep at {top} subscribers ({params['sweep_s']:g} s of events per rate, fresh "
        f"subscribers each): the highest paced rate with p99 <= {SWEEP_P99_MS:g} ms. "
        + "; ".join(
            f"{system}: " + ", ".join(f"{r}/s p99 {m['p99_ms']} ms" for r, m in sweep.items())
            for system, sweep in sweeps.items()
        ),
    ]
    for system, sweep in sweeps.items():
        if sweep and _max_rate(sweep) == max(params["sweep"]):
            notes.append(f"{system} met the p99 at the sweep's highest rate: its limit is higher.")
    if lost_peer:
        notes.append(f"python-socketio lost {lost_peer} deliveries in this run.")
    return Result(
        scenario="fanout",
        parameters={k: v for k, v in params.items() if k != "systems"},
        figures=figures,
        baseline_name="python-socketio + AsyncRedisManager",
        baseline=peer,
        ratios=ratios,
        goals=[Goal(f"ratio:deliveries_per_s@{n}", ">=", 5.0, "x socketio") for n in counts],
        checks=checks,
        generators=generators,
        curves=curves,
        curve_axes=("subscribers on the channel", "deliveries per second"),
        notes=notes,
    )


def _max_rate(sweep: dict[str, Any]) -> float:
    """The highest rate of a sweep whose every event reached every subscriber within the p99."""
    ok = [
        float(rate)
        for rate, m in sweep.items()
        if m["deliveries"] == m["expected"] and (m["p99_ms"] or 0) <= SWEEP_P99_MS
    ]
    return max(ok, default=0.0)
