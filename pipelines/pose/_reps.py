"""Rep counting: a hysteresis state machine over the filtered driving angle.

The angle is sorted into three zones: REST (past the exit threshold, where a rep starts and
ends), TURN (past the enter threshold, around the turning point) and MIDDLE (between the two).
A rep is counted only on the way REST -> TURN -> REST, so a partial rep (one that turns back
before the enter threshold) counts nothing, and jitter around either threshold cannot count
twice: it would have to cross the whole band. A zone change is accepted only after the new zone
has held for ``debounce_ms`` (two frames at least), which removes single-frame spikes.

A movement that comes back to rest without the angle having been seen past the enter threshold
is a partial, unless the caller's ``turn_check`` (``step``) finds, looking back over its raw
samples, that it did turn past it after all: the smoothed angle lags, and misses quick turns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import _state
from ._kinematics import Kinematics
from ._vocabulary import Direction


class Zone(StrEnum):
    REST = "rest"
    MIDDLE = "middle"
    TURN = "turn"


class RepPhase(StrEnum):
    UNARMED = "unarmed"  # not yet seen at rest: a set that starts mid-movement counts nothing
    REST = "rest"
    OUTWARD = "outward"  # left the rest zone, turning point not reached (yet)
    TURN = "turn"  # past the enter threshold
    RETURN = "return"  # back between the thresholds after the turn


TRANSITIONS: Mapping[RepPhase, frozenset[RepPhase]] = {
    RepPhase.UNARMED: frozenset({RepPhase.REST}),
    RepPhase.REST: frozenset({RepPhase.OUTWARD, RepPhase.TURN, RepPhase.UNARMED}),
    RepPhase.OUTWARD: frozenset({RepPhase.REST, RepPhase.TURN, RepPhase.UNARMED}),
    RepPhase.TURN: frozenset({RepPhase.RETURN, RepPhase.REST, RepPhase.UNARMED}),
    RepPhase.RETURN: frozenset({RepPhase.TURN, RepPhase.REST, RepPhase.UNARMED}),
}


class IllegalTransition(RuntimeError):
    pass


class TempoVerdict(StrEnum):
    OK = "ok"
    TOO_FAST = "too_fast"
    TOO_SLOW = "too_slow"


@dataclass(frozen=True, slots=True)
class Rep:
    """A counted rep. ``duration_ms`` is the time outside the rest zone; ``hold_ms`` the time
    past the enter threshold; ``rom_deg`` the angle's range since the previous rep."""

    number: int
    t_ms: float
    rom_deg: float
    duration_ms: float
    hold_ms: float
    tempo: TempoVerdict
    hold_ok: bool
    rom_sd_deg: float = 0.0


@dataclass(frozen=True, slots=True)
class RepRules:
    direction: Direction
    enter_deg: float
    exit_deg: float
    tempo_min_ms: float
    tempo_max_ms: float
    hold_ms: float = 0.0
    debounce_ms: float = 30.0

    @classmethod
    def from_kinematics(cls, kinematics: Kinematics, debounce_ms: float = 30.0) -> RepRules:
        return cls(
            direction=kinematics.direction,
            enter_deg=kinematics.enter_deg,
            exit_deg=kinematics.exit_deg,
            tempo_min_ms=kinematics.tempo.min_ms,
            tempo_max_ms=kinematics.tempo.max_ms,
            hold_ms=kinematics.hold_ms,
            debounce_ms=debounce_ms,
        )


class RepCounter:
    """Feed it the filtered driving angle frame by frame; it returns a ``Rep`` when one ends."""

    def __init__(self, rules: RepRules) -> None:
        self.rules = rules
        # Work in "extension" orientation: flexion angles are negated, so TURN is always high.
        self._sign = 1.0 if rules.direction is Direction.EXTENSION else -1.0
        self._enter = self._sign * rules.enter_deg
        self._exit = self._sign * rules.exit_deg
        self.phase = RepPhase.UNARMED
        self.count = 0
        self.partials = 0
        self._zone: Zone | None = None
        self._candidate: Zone | None = None
        self._candidate_t = 0.0
        self._left_t = 0.0
        self._turn_t = 0.0
        self._hold = 0.0
        self._lo: float | None = None
        self._hi: float | None = None

    def zone_of(self, angle: float, enter_margin: float = 0.0, exit_margin: float = 0.0) -> Zone:
        """The angle's zone; the margins (degrees, from the measured noise) move each
        threshold away from the band, so noise alone cannot carry the angle across it."""
        s = self._sign * angle
        if s <= self._exit - exit_margin:
            return Zone.REST
        if s >= self._enter + enter_margin:
            return Zone.TURN
        return Zone.MIDDLE

    def step(
        self,
        t_ms: float,
        angle: float,
        enter_margin: float = 0.0,
        exit_margin: float = 0.0,
        confirm_ms: float = 0.0,
        turn_check: Callable[[float], bool] | None = None,
    ) -> Rep | None:
        """One frame; the margins widen the band and ``confirm_ms`` lengthens the debounce,
        both in proportion to the measured noise (``DrivingSignal``). ``turn_check(since_ms)``
        is asked, when a movement is back at rest without having been seen past the enter
        threshold, whether it went past it since ``since_ms`` after all; if so it counts."""
        zone = self.zone_of(angle, enter_margin, exit_margin)
        if self._lo is not None and self._hi is not None:
            self._lo = min(self._lo, angle)
            self._hi = max(self._hi, angle)
        if zone is self._zone:
            self._candidate = None
            return None
        if zone is not self._candidate:
            self._candidate, self._candidate_t = zone, t_ms
        if t_ms - self._candidate_t < max(self.rules.debounce_ms, confirm_ms):
            return None
        since = self._candidate_t
        self._zone, self._candidate = zone, None
        return self._enter_zone(zone, since, t_ms, angle, turn_check)

    def interrupt(self) -> None:
        """The frames stop (tracking lost): a pending zone change must not span the gap."""
        self._candidate = None

    def abandon(self) -> None:
        """Drop any rep in progress (tracking was lost too long); counted reps stay."""
        if self.phase is not RepPhase.UNARMED:
            self._go(RepPhase.UNARMED)
        self._zone = self._candidate = None
        self._lo = self._hi = None

    def _go(self, phase: RepPhase) -> None:
        if phase not in TRANSITIONS[self.phase]:
            raise IllegalTransition(f"rep counter cannot go from {self.phase} to {phase}")
        self.phase = phase

    def _enter_zone(
        self,
        zone: Zone,
        since: float,
        t_ms: float,
        angle: float,
        turn_check: Callable[[float], bool] | None = None,
    ) -> Rep | None:
        phase = self.phase
        if phase is RepPhase.UNARMED:
            if zone is Zone.REST:
                self._go(RepPhase.REST)
                self._lo = self._hi = angle
        elif phase is RepPhase.REST:
            self._left_t, self._hold = since, 0.0
            if zone is Zone.TURN:
                self._turn_t = since
            self._go(RepPhase.TURN if zone is Zone.TURN else RepPhase.OUTWARD)
        elif phase is RepPhase.OUTWARD:
            if zone is Zone.TURN:
                self._turn_t = since
                self._go(RepPhase.TURN)
            elif turn_check is not None and turn_check(self._left_t):
                return self._count(since, t_ms, angle)  # a quick turn the smoothing missed
            else:
                self.partials += 1
                self._go(RepPhase.REST)
        elif phase is RepPhase.TURN:
            self._hold += since - self._turn_t
            if zone is Zone.REST:
                return self._count(since, t_ms, angle)
            self._go(RepPhase.RETURN)
        elif zone is Zone.TURN:  # RETURN, going deeper again: still the same rep
            self._turn_t = since
            self._go(RepPhase.TURN)
        else:
            return self._count(since, t_ms, angle)
        return None

    def _count(self, since: float, t_ms: float, angle: float) -> Rep:
        rules = self.rules
        duration = since - self._left_t
        if duration < rules.tempo_min_ms:
            tempo = TempoVerdict.TOO_FAST
        elif duration > rules.tempo_max_ms:
            tempo = TempoVerdict.TOO_SLOW
        else:
            tempo = TempoVerdict.OK
        rom = 0.0 if self._lo is None or self._hi is None else self._hi - self._lo
        self.count += 1
        self._go(RepPhase.REST)
        self._lo = self._hi = angle
        return Rep(
            number=self.count,
            t_ms=t_ms,
            rom_deg=rom,
            duration_ms=duration,
            hold_ms=self._hold,
            tempo=tempo,
            hold_ok=self._hold >= rules.hold_ms,
        )

    def snapshot(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "count": self.count,
            "partials": self.partials,
            "zone": None if self._zone is None else self._zone.value,
            "candidate": None if self._candidate is None else self._candidate.value,
            "candidate_t": self._candidate_t,
            "left_t": self._left_t,
            "turn_t": self._turn_t,
            "hold": self._hold,
            "lo": self._lo,
            "hi": self._hi,
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        phase = _state.member(state, "phase", RepPhase)
        values = (
            _state.count(state, "count"),
            _state.count(state, "partials"),
            _state.optional_member(state, "zone", Zone),
            _state.optional_member(state, "candidate", Zone),
            _state.real(state, "candidate_t"),
            _state.real(state, "left_t"),
            _state.real(state, "turn_t"),
            _state.real(state, "hold"),
            _state.optional_real(state, "lo"),
            _state.optional_real(state, "hi"),
        )
        self.phase = phase
        (
            self.count,
            self.partials,
            self._zone,
            self._candidate,
            self._candidate_t,
            self._left_t,
            self._turn_t,
            self._hold,
            self._lo,
            self._hi,
        ) = values
