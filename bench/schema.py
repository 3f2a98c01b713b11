"""The result of one scenario run (JSON on disk): what ran, where, its figures, its peer's figures,
their ratios, the goals the issues name, the invariants checked under load and the CPU use of
every load generator."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

# A generator process above this share of one core measured itself, not the system under test.
SATURATED_CPU_PERCENT = 90.0


class Skip(Exception):  # noqa: N818 - raised by a scenario to say why it cannot run here
    """A scenario cannot run on this tree or deployment (a route not mounted yet, no database
    access with --url, ...): the report shows the reason instead of figures."""


def machine() -> dict[str, Any]:
    freq = psutil.cpu_freq()
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "cpu_mhz": round(freq.current) if freq else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _finite(value: Any) -> Any:
    """NaN (nothing measured) as null: strict JSON readers refuse NaN."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


@dataclass
class Goal:
    figure: str  # key in figures or ratios
    op: str  # "<=" or ">="
    target: float
    unit: str = ""

    def met(self, value: float | None) -> bool | None:
        if value is None or value != value:  # NaN: nothing was measured
            return None
        return value <= self.target if self.op == "<=" else value >= self.target


@dataclass
class Result:
    scenario: str
    parameters: dict[str, Any]
    figures: dict[str, float]
    baseline_name: str = ""
    baseline: dict[str, float] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    goals: list[Goal] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)  # invariants verified under load
    generators: list[dict[str, Any]] = field(default_factory=list)  # per-process CPU use
    series: dict[str, list[float]] = field(default_factory=dict)  # latency samples (ms): CDFs
    # name -> {"t": [s], "p50": [ms], "p95": [ms], "p99": [ms]} (stats.timeline): over time
    timelines: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    # name -> [[offered load, achieved throughput], ...]: throughput against load
    curves: dict[str, list[list[float]]] = field(default_factory=dict)
    curve_axes: tuple[str, str] = ("offered load", "throughput")
    notes: list[str] = field(default_factory=list)
    status: str = "ok"  # "ok" | "skipped" | "error"
    machine: dict[str, Any] = field(default_factory=machine)
    started_at: float = field(default_factory=time.time)
    elapsed_s: float = 0.0

    @property
    def saturated(self) -> bool:
        """A load generator at ~a full core measured itself, not the server."""
        return any(
            (g.get("cpu_percent") or 0) >= SATURATED_CPU_PERCENT or g.get("saturated")
            for g in self.generators
        )

    @property
    def ok(self) -> bool:
        """Skipped scenarios are not failures; errors and broken invariants are."""
        return self.status != "error" and all(self.checks.values())

    def value(self, name: str) -> float | None:
        """A figure, or with the prefix "ratio:" its ratio to the peer (or a named ratio)."""
        if name.startswith("ratio:"):
            return self.ratios.get(name[6:])
        if name in self.figures:
            return self.figures[name]
        return self.ratios.get(name)

    def to_json(self, with_series: bool = False) -> dict[str, Any]:
        data = asdict(self)
        if not with_series:
            data.pop("series")
        data["saturated"] = self.saturated
        data["ok"] = self.ok
        data["goals"] = [
            {**asdict(g), "value": self.value(g.figure), "met": g.met(self.value(g.figure))}
            for g in self.goals
        ]
        result: dict[str, Any] = _finite(data)
        return result

    @classmethod
    def skipped(cls, scenario: str, reason: str, parameters: dict[str, Any]) -> Result:
        return cls(scenario, parameters, {}, notes=[f"Skipped: {reason}"], status="skipped")

    @classmethod
    def failed(cls, scenario: str, error: str, parameters: dict[str, Any]) -> Result:
        return cls(
            scenario, parameters, {}, checks={"ran": False}, notes=[f"Error: {error}"],
            status="error",
        )  # fmt: skip
