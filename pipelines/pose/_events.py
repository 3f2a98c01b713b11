"""What the tracker tells the session: typed events, one class per protocol event kind.

``data()`` is the event's payload as PROTOCOL.md lists it for ``patient:<id>`` (the worker adds
``session_id``, ``exercise_id`` and ``set``); ``t_ms`` is the frame time it was raised at.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from ._reps import TempoVerdict
from ._vocabulary import Severity


class EventKind(StrEnum):
    REP_COUNTED = "rep.counted"
    FORM_CUE = "form.cue"
    TRACKING_LOST = "tracking.lost"
    TRACKING_OK = "tracking.ok"


@dataclass(frozen=True, slots=True)
class RepCounted:
    """``rom_deg``: range of the driving angle over the rep (robust extremes of the smoothed
    angle), ``rom_sd_deg`` its standard uncertainty from the measured noise; ``duration_ms``:
    time outside the rest zone; ``tempo`` against the definition's bounds; ``hold_ms``: time
    past the enter threshold (additions to the protocol's payload)."""

    kind: ClassVar[EventKind] = EventKind.REP_COUNTED
    t_ms: float
    rep: int
    rom_deg: float
    duration_ms: int
    tempo: TempoVerdict
    hold_ms: int
    rom_sd_deg: float = 0.0

    def data(self) -> dict[str, Any]:
        return {
            "rep": self.rep,
            "rom_deg": round(self.rom_deg, 1),
            "duration_ms": self.duration_ms,
            "tempo": self.tempo.value,
            "hold_ms": self.hold_ms,
            "rom_sd_deg": round(self.rom_sd_deg, 1),
        }


@dataclass(frozen=True, slots=True)
class FormCue:
    kind: ClassVar[EventKind] = EventKind.FORM_CUE
    t_ms: float
    code: str
    message: str
    severity: Severity

    def data(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "severity": self.severity.value}


@dataclass(frozen=True, slots=True)
class TrackingLost:
    kind: ClassVar[EventKind] = EventKind.TRACKING_LOST
    t_ms: float

    def data(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True)
class TrackingOk:
    kind: ClassVar[EventKind] = EventKind.TRACKING_OK
    t_ms: float

    def data(self) -> dict[str, Any]:
        return {}


PoseEvent = RepCounted | FormCue | TrackingLost | TrackingOk
