"""Cue pacing: one cue at a time, a global cooldown between cues, and no code repeated soon.

A patient mid-rep can take in one short instruction every few seconds. So of all the cues that
are due at a frame only the most severe (first listed among equals) is spoken, none is spoken
within ``cooldown_ms`` of the previous cue, and a code already spoken waits ``repeat_ms`` before
it may be spoken again (a fault that persists is then re-cued as a reminder, not every frame).
Cues that lose out are dropped, not queued: a stale instruction is worse than none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import _state
from ._vocabulary import Severity

MAX_CODES = 64  # far above the rules a definition may hold; bounds the per-code memory


@dataclass(frozen=True, slots=True)
class Cue:
    code: str
    message: str
    severity: Severity


class CueCooldown:
    __slots__ = ("cooldown_ms", "repeat_ms", "_last_t", "_by_code")

    def __init__(self, cooldown_ms: float = 3000.0, repeat_ms: float = 10000.0) -> None:
        self.cooldown_ms = cooldown_ms
        self.repeat_ms = repeat_ms
        self._last_t: float | None = None
        self._by_code: dict[str, float] = {}

    def pick(self, t_ms: float, due: Sequence[Cue]) -> Cue | None:
        """The cue to speak now out of ``due``, if any; it is recorded as spoken."""
        if not due or (self._last_t is not None and t_ms - self._last_t < self.cooldown_ms):
            return None
        for cue in sorted(due, key=lambda c: -c.severity.rank):
            last = self._by_code.get(cue.code)
            if last is None or t_ms - last >= self.repeat_ms:
                self._last_t = t_ms
                self._by_code[cue.code] = t_ms
                if len(self._by_code) > MAX_CODES:
                    del self._by_code[min(self._by_code, key=self._by_code.__getitem__)]
                return cue
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"last_t": self._last_t, "by_code": dict(self._by_code)}

    def restore(self, state: Mapping[str, Any]) -> None:
        last_t = _state.optional_real(state, "last_t")
        by_code = state["by_code"]
        if not isinstance(by_code, Mapping) or len(by_code) > MAX_CODES:
            raise ValueError("snapshot field 'by_code' must be a small object")
        codes = {str(code): _state.real(by_code, code) for code in by_code}
        self._last_t, self._by_code = last_t, codes
