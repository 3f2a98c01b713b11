"""Markdown report with PNG plots from scenario results: a summary table of every goal (figure,
peer's figure, ratio, goal, met), then per scenario its figures beside its peer's, the invariants
checked under load, each load generator's CPU, and plots with the peer on the same axes: latency
CDFs, latency percentiles over time, throughput against load."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.schema import SATURATED_CPU_PERCENT, Result


def _fmt(value: float | None) -> str:
    if value is None or value != value:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _status(r: Result) -> str:
    if r.status == "skipped":
        return "skipped"
    if r.status == "error":
        return "**ERROR**"
    if not r.ok:
        return "**INVARIANT BROKEN**"
    return "ok, generator saturated" if r.saturated else "ok"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    _pyplot().close(fig)
    return name


def _cdf(result: Result, out: Path) -> str | None:
    series = {k: v for k, v in result.series.items() if v}
    if not series:
        return None
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, samples in series.items():
        xs = np.sort(np.asarray(samples, dtype=float))
        ax.plot(xs, np.linspace(0, 1, len(xs)), label=name)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log)")
    ax.set_ylabel("fraction ≤ x")
    ax.set_title(f"{result.scenario}: latency CDF")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, out, f"{result.scenario}_cdf.png")


def _over_time(result: Result, out: Path) -> str | None:
    lines = {k: v for k, v in result.timelines.items() if v.get("t")}
    if not lines:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, tl) in enumerate(lines.items()):
        color = colors[i % len(colors)]
        ax.plot(tl["t"], tl["p50"], color=color, label=f"{name} p50")
        ax.plot(tl["t"], tl["p99"], color=color, linestyle="--", label=f"{name} p99")
    ax.set_yscale("log")
    ax.set_xlabel("seconds into the run")
    ax.set_ylabel("latency (ms, log)")
    ax.set_title(f"{result.scenario}: latency percentiles per second")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(fig, out, f"{result.scenario}_over_time.png")


def _curves(result: Result, out: Path) -> str | None:
    curves = {k: v for k, v in result.curves.items() if v}
    if not curves:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, points in curves.items():
        ordered = sorted(points)
        ax.plot([p[0] for p in ordered], [p[1] for p in ordered], marker="o", label=name)
    ax.set_xlabel(result.curve_axes[0])
    ax.set_ylabel(result.curve_axes[1])
    ax.set_title(f"{result.scenario}: throughput against load")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out, f"{result.scenario}_throughput.png")


def _summary(results: list[Result]) -> list[str]:
    lines = [
        "## Summary",
        "",
        "| scenario | status | figure | cadence | peer | ratio | goal | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if not r.goals:
            lines.append(f"| {r.scenario} | {_status(r)} | — | — | — | — | — | — |")
        for g in r.goals:
            name = g.figure.removeprefix("ratio:")
            value = r.value(g.figure)
            met = g.met(value)
            lines.append(
                f"| {r.scenario} | {_status(r)} | {g.figure} | {_fmt(r.figures.get(name))} | "
                f"{_fmt(r.baseline.get(name))} | {_fmt(r.ratios.get(name))} | "
                f"{g.op} {_fmt(g.target)} {g.unit} | "
                f"{'yes' if met else 'no' if met is False else '—'} |"
            )
    return lines


def _section(r: Result, out: Path) -> list[str]:
    lines = ["", f"## {r.scenario}", "", f"Status: {_status(r)}; {r.elapsed_s:.0f} s.", ""]
    if r.parameters:
        lines += ["Parameters: " + ", ".join(f"`{k}={v}`" for k, v in r.parameters.items()), ""]
    if r.saturated:
        lines += [
            "**Warning: a load generator was saturated (≥ 90% of a core); the figures of this "
            "run describe the generator, not Cadence.**",
            "",
        ]
    if r.figures:
        peer = r.baseline_name or "peer"
        lines += [f"| figure | cadence | {peer} | ratio |", "|---|---|---|---|"]
        for key, value in r.figures.items():
            lines.append(
                f"| {key} | {_fmt(value)} | {_fmt(r.baseline.get(key))} | "
                f"{_fmt(r.ratios.get(key))} |"
            )
        for key, value in r.ratios.items():
            if key not in r.figures:
                lines.append(f"| {key} (ratio) | | | {_fmt(value)} |")
    if r.checks:
        lines += [
            "",
            "Invariants under load: "
            + ", ".join(f"{k}: {'ok' if v else '**BROKEN**'}" for k, v in r.checks.items()),
        ]
    if r.generators:
        lines += ["", "| load generator | CPU % (avg) | CPU % (peak 0.5 s) | saturated |"]
        lines += ["|---|---|---|---|"]
        for g in r.generators:
            avg, peak = g.get("cpu_percent"), g.get("peak_cpu_percent")
            flag = g.get("saturated") or (avg or 0) >= SATURATED_CPU_PERCENT
            lines.append(
                f"| {g.get('name', '?')} | {'—' if avg is None else f'{avg:.0f}'} | "
                f"{'—' if peak is None else f'{peak:.0f}'} | {'**yes**' if flag else 'no'} |"
            )
    for note in r.notes:
        lines.append(f"\n> {note}")
    for plot in (_cdf(r, out), _over_time(r, out), _curves(r, out)):
        if plot:
            lines += ["", f"![{r.scenario}]({plot})"]
    return lines


def write(results: list[Result], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Cadence bench report — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    if results:
        m = results[0].machine
        lines += [
            f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB, "
            f"Python {m['python']}, {m['os']}; load average at the start "
            f"{m.get('load_avg_1m', '—')}.",
            "",
            "Every peer ran in the same run on the same machine, so the ratios hold on a noisy "
            "machine even when the absolute figures do not.",
            "",
        ]
    lines += _summary(results)
    for r in results:
        lines += _section(r, out)
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return path
