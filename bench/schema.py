"""The result of one scenario run (JSON on disk): what ran, where, its figures, its peer's figures,
their ratios, and the goals the issues name."""

from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil


def machine() -> dict[str, Any]:
    freq = psutil.cpu_freq()
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "cpu_mhz": round(freq.current) if freq else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
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


@dataclass
class Goal:
    figure: str  # key in figures or ratios
    op: str  # "<=" or ">="
    target: float
    unit: str = ""

    def met(self, value: float | None) -> bool | None:
        if value is None:
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
    series: dict[str, list[float]] = field(default_factory=dict)  # raw samples for plots
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=machine)
    started_at: float = field(default_factory=time.time)

    @property
    def saturated(self) -> bool:
        """A load generator above ~90% of a core measured itself, not the server."""
        return any(g.get("cpu_percent", 0) >= 90 for g in self.generators)

    @property
    def ok(self) -> bool:
        return all(self.checks.values())

    def value(self, name: str) -> float | None:
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
        return data
