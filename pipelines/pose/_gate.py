"""Visibility gating: the counter only sees frames in which every driving landmark is visible.

Tracking is lost at the first frame with a driving landmark below the visibility threshold
(nothing invisible may move the counter) and comes back only after ``recover_ms`` of unbroken
visibility, so a flickering landmark yields one ``tracking.lost`` / ``tracking.ok`` pair, not a
stream of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from . import _state


class TrackingState(StrEnum):
    TRACKING = "tracking"
    LOST = "lost"


TRANSITIONS: Mapping[TrackingState, frozenset[TrackingState]] = {
    TrackingState.TRACKING: frozenset({TrackingState.LOST}),
    TrackingState.LOST: frozenset({TrackingState.TRACKING}),
}


class GateChange(StrEnum):
    LOST = "lost"
    RECOVERED = "recovered"


class VisibilityGate:
    __slots__ = ("recover_ms", "state", "lost_at", "_visible_since")

    def __init__(self, recover_ms: float = 250.0) -> None:
        self.recover_ms = recover_ms
        self.state = TrackingState.TRACKING
        self.lost_at = 0.0
        self._visible_since: float | None = None

    @property
    def tracking(self) -> bool:
        return self.state is TrackingState.TRACKING

    def step(self, t_ms: float, visible: bool) -> GateChange | None:
        if self.state is TrackingState.TRACKING:
            if visible:
                return None
            self._go(TrackingState.LOST)
            self.lost_at, self._visible_since = t_ms, None
            return GateChange.LOST
        if not visible:
            self._visible_since = None
            return None
        if self._visible_since is None:
            self._visible_since = t_ms
        if t_ms - self._visible_since < self.recover_ms:
            return None
        self._go(TrackingState.TRACKING)
        return GateChange.RECOVERED

    @property
    def gap_ms(self) -> float:
        """How long the last loss lasted, from the lost frame to the first visible one."""
        return 0.0 if self._visible_since is None else self._visible_since - self.lost_at

    def _go(self, state: TrackingState) -> None:
        if state not in TRANSITIONS[self.state]:
            raise RuntimeError(f"tracking cannot go from {self.state} to {state}")
        self.state = state

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "lost_at": self.lost_at,
            "visible_since": self._visible_since,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        values = (
            _state.member(state, "state", TrackingState),
            _state.real(state, "lost_at"),
            _state.optional_real(state, "visible_since"),
        )
        self.state, self.lost_at, self._visible_since = values
