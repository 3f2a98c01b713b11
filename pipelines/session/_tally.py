"""What the patient did of one exercise, accumulated rep by rep: the per-exercise summary of
the completion record (reps, range of motion min/max/mean, tempo, cues given)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _clamp_deg(value: float) -> float:
    # The completion record accepts 0..180; a range of motion is never more than that.
    return min(180.0, max(0.0, value))


@dataclass
class ExerciseTally:
    sets_done: int = 0
    reps_done: int = 0
    active_ms: int = 0
    rom_min: float | None = None
    rom_max: float | None = None
    rom_sum: float = 0.0
    rom_reps: int = 0
    tempo_sum_ms: int = 0
    cues: dict[str, int] = field(default_factory=dict)
    skipped: bool = False

    def rep(self, rom_deg: float | None, duration_ms: int | None) -> None:
        self.reps_done += 1
        if rom_deg is not None:
            rom = _clamp_deg(rom_deg)
            self.rom_min = rom if self.rom_min is None else min(self.rom_min, rom)
            self.rom_max = rom if self.rom_max is None else max(self.rom_max, rom)
            self.rom_sum += rom
            self.rom_reps += 1
        if duration_ms is not None:
            self.tempo_sum_ms += duration_ms

    def cue(self, code: str) -> None:
        self.cues[code] = self.cues.get(code, 0) + 1

    def summary(self) -> dict[str, Any]:
        mean = None if not self.rom_reps else round(self.rom_sum / self.rom_reps, 1)
        tempo = None if not self.rom_reps else round(self.tempo_sum_ms / self.rom_reps)
        return {
            "sets_done": self.sets_done,
            "reps_done": self.reps_done,
            "duration_s": round(self.active_ms / 1000),
            "rom_min_deg": None if self.rom_min is None else round(self.rom_min, 1),
            "rom_max_deg": None if self.rom_max is None else round(self.rom_max, 1),
            "rom_mean_deg": mean,
            "tempo_mean_ms": tempo,
            "cues": dict(self.cues),
            "skipped": self.skipped,
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "sets_done": self.sets_done,
            "reps_done": self.reps_done,
            "active_ms": self.active_ms,
            "rom_min": self.rom_min,
            "rom_max": self.rom_max,
            "rom_sum": self.rom_sum,
            "rom_reps": self.rom_reps,
            "tempo_sum_ms": self.tempo_sum_ms,
            "cues": dict(self.cues),
            "skipped": self.skipped,
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> ExerciseTally:
        return cls(
            sets_done=int(data["sets_done"]),
            reps_done=int(data["reps_done"]),
            active_ms=int(data["active_ms"]),
            rom_min=None if data["rom_min"] is None else float(data["rom_min"]),
            rom_max=None if data["rom_max"] is None else float(data["rom_max"]),
            rom_sum=float(data["rom_sum"]),
            rom_reps=int(data["rom_reps"]),
            tempo_sum_ms=int(data["tempo_sum_ms"]),
            cues={str(k): int(v) for k, v in dict(data["cues"]).items()},
            skipped=bool(data["skipped"]),
        )
