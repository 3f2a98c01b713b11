"""`fanout`: one channel, many subscribers, events published through Redis; Cadence's gateway
beside python-socketio with its Redis manager, both in their own processes on the same machine,
driven by the same raw-WebSocket load generators (bench/fanout.py, the gateway engineer's
harness). Figures per subscriber count: deliveries per second (burst publish) and publish-to-
receive latency p50/p99 (paced publish). Check: every subscriber received every event."""

from __future__ import annotations

from typing import Any

from bench.runner import Options
from bench.schema import Goal, Result, Skip


def _params(opts: Any) -> dict[str, Any]:
    top = int(opts.pick(opts.clients, 5000, 50))
    subscribers = sorted({max(1, top // 5), top}) if not opts.quick else [top]
    return {
        "subscribers": subscribers,
        "events": int(opts.pick(None, 100, 20)),
        "paced_events": int(opts.pick(None, 100, 20)),
        "rate": float(opts.pick(opts.rate, 20, 20)),
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
            for mode in ("burst", "paced"):
                m = runs[mode]
                generators.append(_cpu_report(name, n, mode, m, params["loadgens"]))
                if system == "cadence":
                    checks[f"no_lost_deliveries_{mode}@{n}"] = m["deliveries"] == m["expected"]
                else:
                    lost_peer += m["expected"] - m["deliveries"]
    ratios = {k: figures[k] / peer[k] for k in figures if peer.get(k)}
    top = max(params["subscribers"])
    notes = [
        "Deliveries/s from a burst of events to every subscriber; latency from a paced publish "
        f"({params['rate']:.0f} events/s). Servers: the gateway alone (bench/gateway_server.py, "
        "real token checks, no Postgres or Ray on this path) and python-socketio on aiohttp.",
        "The fan-out goal (at least the peer's deliveries/s) is the bench's own bar: the "
        "gateway issue names none.",
        "Ordering is not checked by this harness; counts are.",
    ]
    if lost_peer:
        notes.append(f"python-socketio lost {lost_peer} deliveries in this run.")
    return Result(
        scenario="fanout",
        parameters={k: v for k, v in params.items() if k != "systems"},
        figures=figures,
        baseline_name="python-socketio + AsyncRedisManager",
        baseline=peer,
        ratios=ratios,
        goals=[Goal(f"ratio:deliveries_per_s@{top}", ">=", 1.0, "x socketio")],
        checks=checks,
        generators=generators,
        curves=curves,
        curve_axes=("subscribers on the channel", "deliveries per second"),
        notes=notes,
    )
