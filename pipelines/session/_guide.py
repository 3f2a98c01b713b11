"""The session guide: which exercise and set the patient is on, the rep target, the rest timer,
the next exercise, pauses, skips, and completion. Pure: every call takes the time (``now_ms``,
server wall clock) and returns the telerehab events it caused, in order.

The cursor (``index``, ``set_no``) names the set being done, or during a rest the set coming
next. Reps are counted by the caller (the pose tracker) and reported through ``rep``; a set
ends when its target is reached, or on ``done``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._plan import PlannedExercise, SessionPlan
from ._states import GuideError, PauseReason, SessionState, check_transition
from ._tally import ExerciseTally

SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class GuideConfig:
    grace_ms: float = 120_000.0  # paused by a disconnect: abandoned after this long
    max_pause_ms: float = 1_800_000.0  # paused by the patient: abandoned after this long


@dataclass(frozen=True, slots=True)
class GuideEvent:
    """A telerehab event of PROTOCOL.md (``type``) and its data, without ``session_id``."""

    type: str
    data: dict[str, Any]


class SessionGuide:
    def __init__(self, plan: SessionPlan, config: GuideConfig | None = None) -> None:
        self.plan = plan
        self.config = config or GuideConfig()
        self.state = SessionState.ACTIVE
        self.index = 0
        self.set_no = 1
        self.reps = 0
        self.set_ms = 0  # active time of the current set
        self.started_ms: float | None = None
        self.ended_ms: float | None = None
        self.active_since_ms: float | None = None
        self.rest_until_ms: float | None = None
        self.rest_left_ms: float | None = None
        self.paused_from: SessionState | None = None
        self.pause_reason: PauseReason | None = None
        self.paused_at_ms: float | None = None
        self.tallies = [ExerciseTally() for _ in plan.exercises]

    # --- reading ---------------------------------------------------------------------------

    @property
    def current(self) -> PlannedExercise:
        return self.plan.exercises[self.index]

    def status(self) -> dict[str, Any]:
        ex = self.current
        out: dict[str, Any] = {
            "state": self.state.value,
            "exercise_id": ex.exercise_id,
            "position": ex.position,
            "set": self.set_no,
            "sets": ex.sets,
            "reps": self.reps,
            "target_reps": ex.reps,
        }
        if self.state is SessionState.RESTING and self.rest_until_ms is not None:
            out["rest_until_ms"] = self.rest_until_ms
        if self.state is SessionState.PAUSED and self.pause_reason is not None:
            out["pause_reason"] = self.pause_reason.value
        return out

    def summary(self) -> list[dict[str, Any]]:
        return [
            {
                "position": ex.position,
                "exercise_id": ex.exercise_id,
                "name": ex.name,
                "sets_target": ex.sets,
                "reps_target": ex.reps,
                **tally.summary(),
            }
            for ex, tally in zip(self.plan.exercises, self.tallies, strict=True)
        ]

    @property
    def outcome(self) -> str:
        """``completed`` when every set of every exercise was done, else ``partial``."""
        done = all(
            t.sets_done >= ex.sets and not t.skipped
            for ex, t in zip(self.plan.exercises, self.tallies, strict=True)
        )
        return "completed" if self.state is SessionState.COMPLETED and done else "partial"

    # --- driving ---------------------------------------------------------------------------

    def start(self, now_ms: float) -> list[GuideEvent]:
        if self.started_ms is not None:
            raise GuideError("illegal_transition", "the session has already started")
        self.started_ms = now_ms
        started = GuideEvent(
            "session.started", {"exercises": [e.brief() for e in self.plan.exercises]}
        )
        return [started, *self._begin(now_ms, 0, 1)]

    def rep(self, now_ms: float, rom_deg: float | None, duration_ms: int | None,
            extra: Mapping[str, Any] | None = None) -> list[GuideEvent]:  # fmt: skip
        """One rep of the current set counted; ends the set at its target."""
        self._require_active()
        self.reps += 1
        self.tallies[self.index].rep(rom_deg, duration_ms)
        data = {**self._where(), "rep": self.reps, "rom_deg": rom_deg, "duration_ms": duration_ms}
        events = [GuideEvent("rep.counted", {**data, **(extra or {})})]
        if self.reps >= self.current.reps:
            events += self._finish_set(now_ms)
        return events

    def cue(self, code: str, message: str, severity: str) -> list[GuideEvent]:
        self._require_active()
        self.tallies[self.index].cue(code)
        data = {**self._where(), "code": code, "message": message, "severity": severity}
        return [GuideEvent("form.cue", data)]

    def tracking(self, kind: str, extra: Mapping[str, Any] | None = None) -> list[GuideEvent]:
        return [GuideEvent(kind, {**self._where(), **(extra or {})})]

    def done(self, now_ms: float, reps: int | None = None) -> list[GuideEvent]:
        """End the current set now. ``reps``: what the patient reports for an untracked
        exercise (default the target); a tracked set keeps the reps it counted."""
        self._require_active()
        if not self.current.tracked:
            extra = self.current.reps if reps is None else max(0, min(reps, 10 * self.current.reps))
            for _ in range(extra):
                self.tallies[self.index].rep(None, None)
            self.reps += extra
        return self._finish_set(now_ms)

    def tick(self, now_ms: float) -> list[GuideEvent]:
        """Time-driven changes: the rest timer running out, a pause outliving its limit."""
        if self.state is SessionState.RESTING and self.rest_until_ms is not None:
            if now_ms >= self.rest_until_ms:
                return self._begin(now_ms, self.index, self.set_no)
        if self.state is SessionState.PAUSED and self.paused_at_ms is not None:
            limit = (
                self.config.grace_ms
                if self.pause_reason is PauseReason.DISCONNECTED
                else self.config.max_pause_ms
            )
            if now_ms - self.paused_at_ms >= limit:
                return self.abandon(now_ms, "pause_expired")
        return []

    def pause(self, now_ms: float, reason: PauseReason) -> list[GuideEvent]:
        if self.state is SessionState.PAUSED:
            raise GuideError("illegal_transition", "the session is already paused")
        check_transition(self.state, SessionState.PAUSED)
        if self.state is SessionState.ACTIVE:
            self._stop_clock(now_ms)
        if self.state is SessionState.RESTING and self.rest_until_ms is not None:
            self.rest_left_ms = max(0.0, self.rest_until_ms - now_ms)
        self.paused_from, self.pause_reason, self.paused_at_ms = self.state, reason, now_ms
        self.state = SessionState.PAUSED
        return [GuideEvent("session.paused", {**self._where(), "reason": reason.value})]

    def resume(self, now_ms: float) -> list[GuideEvent]:
        if self.state is not SessionState.PAUSED or self.paused_from is None:
            check_transition(self.state, SessionState.ACTIVE)  # ended -> session_ended
            raise GuideError("illegal_transition", "the session is not paused")
        back = self.paused_from
        check_transition(self.state, back)
        self.state = back
        if back is SessionState.RESTING:
            self.rest_until_ms = now_ms + (self.rest_left_ms or 0.0)
        else:
            self.active_since_ms = now_ms
        paused_ms = now_ms - (self.paused_at_ms or now_ms)
        self.paused_from = self.pause_reason = self.paused_at_ms = self.rest_left_ms = None
        return [GuideEvent("session.resumed", {**self._where(), "paused_ms": round(paused_ms)})]

    def skip(self, now_ms: float) -> list[GuideEvent]:
        """Skip the rest of the current exercise (during a rest: of the one coming next)."""
        if self.state not in (SessionState.ACTIVE, SessionState.RESTING):
            check_transition(self.state, SessionState.ACTIVE)
            raise GuideError("illegal_transition", "resume the session before skipping")
        if self.state is SessionState.ACTIVE:
            self._stop_clock(now_ms)
        ex, tally = self.current, self.tallies[self.index]
        tally.skipped = tally.sets_done < ex.sets
        events = [GuideEvent("exercise.skipped", {**self._where(), "sets_done": tally.sets_done})]
        if self.index + 1 < len(self.plan.exercises):
            return events + self._begin(now_ms, self.index + 1, 1)
        return events + self._complete(now_ms)

    def abandon(self, now_ms: float, reason: str = "user") -> list[GuideEvent]:
        check_transition(self.state, SessionState.ABANDONED)
        if self.state is SessionState.ACTIVE:
            self._stop_clock(now_ms)
        self.state = SessionState.ABANDONED
        self.ended_ms = now_ms
        data = {"reason": reason, "status": self.outcome, "summary": self.summary()}
        return [GuideEvent("session.abandoned", data)]

    # --- internals -------------------------------------------------------------------------

    def _where(self) -> dict[str, Any]:
        return {"exercise_id": self.current.exercise_id, "set": self.set_no}

    def _require_active(self) -> None:
        if self.state is not SessionState.ACTIVE:
            if self.state.ended:
                raise GuideError("session_ended", f"the session is {self.state.value}")
            if self.state is SessionState.PAUSED:
                raise GuideError("session_paused", "the session is paused")
            raise GuideError("illegal_transition", "no set is running (resting)")

    def _stop_clock(self, now_ms: float) -> None:
        if self.active_since_ms is not None:
            spent = max(0, round(now_ms - self.active_since_ms))
            self.tallies[self.index].active_ms += spent
            self.set_ms += spent
        self.active_since_ms = None

    def _begin(self, now_ms: float, index: int, set_no: int) -> list[GuideEvent]:
        check_transition(self.state, SessionState.ACTIVE)
        self.state = SessionState.ACTIVE
        self.index, self.set_no, self.reps, self.set_ms = index, set_no, 0, 0
        self.active_since_ms, self.rest_until_ms = now_ms, None
        ex = self.current
        data = {**self._where(), "name": ex.name, "position": ex.position, "sets": ex.sets,
                "target_reps": ex.reps, "tracked": ex.tracked}  # fmt: skip
        return [GuideEvent("exercise.started", data)]

    def _finish_set(self, now_ms: float) -> list[GuideEvent]:
        self._stop_clock(now_ms)
        ex, tally = self.current, self.tallies[self.index]
        tally.sets_done += 1
        data = {**self._where(), "reps": self.reps, "target_reps": ex.reps,
                "duration_ms": self.set_ms}  # fmt: skip
        events = [GuideEvent("set.completed", data)]
        if self.set_no < ex.sets:
            nxt = (self.index, self.set_no + 1)
        elif self.index + 1 < len(self.plan.exercises):
            nxt = (self.index + 1, 1)
        else:
            return events + self._complete(now_ms)
        if ex.rest_s <= 0:
            return events + self._begin(now_ms, *nxt)
        check_transition(self.state, SessionState.RESTING)
        self.state = SessionState.RESTING
        self.index, self.set_no, self.reps, self.set_ms = nxt[0], nxt[1], 0, 0
        self.rest_until_ms = now_ms + ex.rest_s * 1000.0
        coming = self.current
        rest = {"seconds": ex.rest_s, "next": {**self._where(), "name": coming.name,
                                               "target_reps": coming.reps}}  # fmt: skip
        return [*events, GuideEvent("rest.started", rest)]

    def _complete(self, now_ms: float) -> list[GuideEvent]:
        check_transition(self.state, SessionState.COMPLETED)
        self.state = SessionState.COMPLETED
        self.ended_ms = now_ms
        data = {"status": self.outcome, "summary": self.summary()}
        return [GuideEvent("session.completed", data)]

    # --- persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "v": SNAPSHOT_VERSION,
            "state": self.state.value,
            "index": self.index,
            "set_no": self.set_no,
            "reps": self.reps,
            "set_ms": self.set_ms,
            "started_ms": self.started_ms,
            "ended_ms": self.ended_ms,
            "active_since_ms": self.active_since_ms,
            "rest_until_ms": self.rest_until_ms,
            "rest_left_ms": self.rest_left_ms,
            "paused_from": None if self.paused_from is None else self.paused_from.value,
            "pause_reason": None if self.pause_reason is None else self.pause_reason.value,
            "paused_at_ms": self.paused_at_ms,
            "tallies": [t.snapshot() for t in self.tallies],
        }

    @classmethod
    def restore(
        cls, plan: SessionPlan, data: Mapping[str, Any], config: GuideConfig | None = None
    ) -> SessionGuide:
        """Raises ``ValueError`` for a snapshot that does not fit the plan or is malformed."""
        if not isinstance(data, Mapping) or data.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"not a version {SNAPSHOT_VERSION} guide snapshot")
        guide = cls(plan, config)
        try:
            guide.state = SessionState(data["state"])
            guide.index, guide.set_no, guide.reps, guide.set_ms = (
                int(data["index"]), int(data["set_no"]), int(data["reps"]), int(data["set_ms"])
            )  # fmt: skip
            if not 0 <= guide.index < len(plan.exercises):
                raise ValueError("index outside the plan")
            for name in ("started_ms", "ended_ms", "active_since_ms", "rest_until_ms",
                         "rest_left_ms", "paused_at_ms"):  # fmt: skip
                value = data[name]
                setattr(guide, name, None if value is None else float(value))
            guide.paused_from = (
                None if data["paused_from"] is None else SessionState(data["paused_from"])
            )
            guide.pause_reason = (
                None if data["pause_reason"] is None else PauseReason(data["pause_reason"])
            )
            tallies = [ExerciseTally.restore(t) for t in data["tallies"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed guide snapshot: {exc!r}") from exc
        if len(tallies) != len(plan.exercises):
            raise ValueError("the snapshot was taken for another plan")
        guide.tallies = tallies
        return guide
