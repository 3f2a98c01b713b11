"""Markdown report (with PNG plots when series were recorded) from scenario results."""

from __future__ import annotations

import time
from pathlib import Path

from bench.schema import Result


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _plot(result: Result, out: Path) -> str | None:
    if not result.series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, samples in result.series.items():
        if not samples:
            continue
        xs = np.sort(np.asarray(samples))
        ax.plot(xs, np.linspace(0, 1, len(xs)), label=name)
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("fraction ≤ x")
    ax.set_title(f"{result.scenario}: latency CDF")
    ax.grid(alpha=0.3)
    ax.legend()
    name = f"{result.scenario}_cdf.png"
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name


def write(results: list[Result], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Cadence bench report — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    if results:
        m = results[0].machine
        lines += [
            f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['memory_gb']} GB, "
            f"Python {m['python']}, {m['os']}",
            "",
        ]
    lines += ["## Goals", "", "| scenario | figure | value | goal | met |", "|---|---|---|---|---|"]
    for r in results:
        for g in r.goals:
            v = r.value(g.figure)
            met = g.met(v)
            lines.append(
                f"| {r.scenario} | {g.figure} | {_fmt(v)} {g.unit} | {g.op} {_fmt(g.target)}"
                f" {g.unit} | {'yes' if met else 'no' if met is False else '—'} |"
            )
    for r in results:
        lines += ["", f"## {r.scenario}", "", f"Parameters: `{r.parameters}`", ""]
        if r.saturated:
            lines += [
                "**Warning: a load generator was saturated; the figures describe it.**",
                "",
            ]
        lines += [
            f"| figure | cadence | {r.baseline_name or 'peer'} | ratio |",
            "|---|---|---|---|",
        ]
        for key, value in r.figures.items():
            lines.append(
                f"| {key} | {_fmt(value)} | {_fmt(r.baseline.get(key))} | "
                f"{_fmt(r.ratios.get(key))} |"
            )
        if r.checks:
            lines += [
                "",
                "Invariants under load: "
                + ", ".join(f"{k}: {'ok' if v else 'BROKEN'}" for k, v in r.checks.items()),
            ]
        if r.generators:
            lines += [
                "",
                "Generators CPU: "
                + ", ".join(
                    f"{g.get('name', '?')} {g.get('cpu_percent', 0):.0f}%" for g in r.generators
                ),
            ]
        for note in r.notes:
            lines.append(f"\n> {note}")
        plot = _plot(r, out)
        if plot:
            lines += ["", f"![{r.scenario}]({plot})"]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return path
