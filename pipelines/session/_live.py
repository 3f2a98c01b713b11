"""One running session: the guide plus the pose tracker of the set being done.

``feed`` turns a batch of pose frames into guide events: the tracker counts reps and raises
cues, the guide turns them into ``rep.counted`` / ``form.cue`` / ``tracking.*`` with the
exercise and set, and moves on at the rep target. Frames during a rest or an untracked set are
accepted and ignored. A batch the tracker refuses raises ``PoseInputError`` and changes nothing.
The first batch of a tracked set must carry the camera's aspect ratio (``aspect_required``
otherwise), unless the caller lets the tracker work it out (``infer_aspect``: the JSON ``pose``
op of PROTOCOL.md, which has none); later batches may omit it and keep the set's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pipelines.pose import (
    ExerciseTracker,
    FormCue,
    Measured,
    RepCounted,
    TrackingLost,
    TrackingOk,
)

from ._guide import GuideConfig, GuideEvent, SessionGuide
from ._plan import SessionPlan
from ._states import Action, GuideError, PauseReason, SessionState

SNAPSHOT_VERSION = 1
ASPECT_TOLERANCE = 1e-3
MIN_ASPECT, MAX_ASPECT = 0.2, 5.0
ASPECT_REQUIRED = (
    "the first landmarks frame of a set must carry `aspect`, the camera image's width / height"
)
# Events after which the session's state is worth persisting at once (see actors/pose_worker).
DURABLE = frozenset({"rep.counted", "set.completed", "exercise.started", "rest.started",
                     "exercise.skipped", "session.paused", "session.resumed",
                     "session.completed", "session.abandoned", "session.started"})  # fmt: skip


class LiveSession:
    def __init__(self, plan: SessionPlan, config: GuideConfig | None = None) -> None:
        self.guide = SessionGuide(plan, config)
        self._tracker: ExerciseTracker | None = None
        self._tracker_set: tuple[int, int] | None = None  # (index, set_no) it counts
        self._recovering = False

    @property
    def state(self) -> SessionState:
        return self.guide.state

    @property
    def tracking(self) -> bool | None:
        return None if self._tracker is None else self._tracker.tracking

    def start(self, now_ms: float) -> list[GuideEvent]:
        return self.guide.start(now_ms)

    def feed(
        self,
        now_ms: float,
        t_ms: ArrayLike,
        landmarks: ArrayLike,
        *,
        aspect: float | None = None,
        world: ArrayLike | None = None,
        measured: Measured | None = None,
        infer_aspect: bool = False,
    ) -> list[GuideEvent]:
        """``measured``: these frames measured ahead for ``ready_tracker`` (``measure_together``
        over many sessions); the tracker ignores it unless it still fits. ``infer_aspect``: a
        set's first frames may come without ``aspect`` (the fixed-point JSON ``pose`` op): the
        tracker works it out and says so (cue ``aspect_unknown``) instead of refusing them."""
        events: list[GuideEvent] = []
        guide = self.guide
        if guide.state is SessionState.PAUSED:
            if guide.pause_reason is not PauseReason.DISCONNECTED:
                raise GuideError("session_paused", "the session is paused; resume it first")
            events += guide.resume(now_ms)  # frames again: the device is back
        if guide.state.ended:
            raise GuideError("session_ended", f"the session is {guide.state.value}")
        if guide.state is not SessionState.ACTIVE or not guide.current.tracked:
            return events
        tracker = self._tracker_for(aspect, infer_aspect)
        # raises before any change
        pose_events = tracker.feed(t_ms, landmarks, world, measured=measured)
        key = (guide.index, guide.set_no)
        if self._recovering and tracker.tracking:
            self._recovering = False
            events += guide.tracking("tracking.ok", {"resumed_from_rep": guide.reps})
        for ev in pose_events:
            if guide.state is not SessionState.ACTIVE or (guide.index, guide.set_no) != key:
                break  # the set ended at its target: the rest of the batch belongs to no set
            if isinstance(ev, RepCounted):
                extra = {"tempo": ev.tempo.value, "hold_ms": ev.hold_ms, "t": ev.t_ms,
                         "rom_sd_deg": round(ev.rom_sd_deg, 1)}  # fmt: skip
                events += guide.rep(now_ms, round(ev.rom_deg, 1), ev.duration_ms, extra)
            elif isinstance(ev, FormCue):
                events += guide.cue(ev.code, ev.message, ev.severity.value)
            elif isinstance(ev, TrackingLost | TrackingOk):
                self._recovering = False
                events += guide.tracking(ev.kind.value)
        return events

    def ready_tracker(self, aspect: float | None, *, infer: bool = False) -> ExerciseTracker | None:
        """The tracker the next ``feed`` hands its frames to, when that feed changes nothing
        before it (the set is active and tracked, the session not paused); else None."""
        guide = self.guide
        if guide.state is not SessionState.ACTIVE or not guide.current.tracked:
            return None
        return self._tracker_for(aspect, infer)

    def control(self, now_ms: float, action: Action, reps: int | None = None) -> list[GuideEvent]:
        guide = self.guide
        if action is Action.PAUSE:
            return guide.pause(now_ms, PauseReason.USER)
        if action is Action.RESUME:
            return guide.resume(now_ms)
        if action is Action.SKIP:
            return guide.skip(now_ms)
        if action is Action.DONE:
            return guide.done(now_ms, reps)
        return guide.abandon(now_ms, "user")

    def disconnected(self, now_ms: float) -> list[GuideEvent]:
        if self.guide.state in (SessionState.ACTIVE, SessionState.RESTING):
            return self.guide.pause(now_ms, PauseReason.DISCONNECTED)
        return []

    def reconnected(self, now_ms: float) -> list[GuideEvent]:
        guide = self.guide
        if guide.state is SessionState.PAUSED and guide.pause_reason is PauseReason.DISCONNECTED:
            return guide.resume(now_ms)
        return []

    def tick(self, now_ms: float) -> list[GuideEvent]:
        return self.guide.tick(now_ms)

    def recovered(self) -> list[GuideEvent]:
        """After a restore in a new worker: the frames since the last persisted rep are gone, so
        say so (``tracking.lost``); the next tracked batch says ``tracking.ok``."""
        guide = self.guide
        if guide.state.ended or not guide.current.tracked:
            return []
        self._recovering = True
        return guide.tracking("tracking.lost", {"reason": "worker_restarted",
                                                "resumed_from_rep": guide.reps})  # fmt: skip

    def _tracker_for(self, aspect: float | None, infer: bool) -> ExerciseTracker:
        guide = self.guide
        key = (guide.index, guide.set_no)
        tracker = self._tracker
        if tracker is None or self._tracker_set != key:
            if aspect is None and not infer:
                # A ratio guessed from the body takes a few seconds of movement and can settle
                # wrong; an assumed 1.0 silently stops 2-D angles from reaching the thresholds.
                raise GuideError("aspect_required", ASPECT_REQUIRED)
            tracker = ExerciseTracker(
                guide.current.definition(),
                guide.current.reps,
                aspect_ratio=None if aspect is None else _aspect(aspect),
            )
            self._tracker, self._tracker_set = tracker, key
        elif aspect is not None and abs(tracker.aspect_ratio - _aspect(aspect)) > ASPECT_TOLERANCE:
            moved = ExerciseTracker(
                tracker.kinematics, tracker.target_reps, aspect_ratio=_aspect(aspect)
            )
            moved.restore(tracker.snapshot())
            self._tracker = tracker = moved
        return tracker

    # --- persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        tracker = self._tracker
        return {
            "v": SNAPSHOT_VERSION,
            "guide": self.guide.snapshot(),
            "tracker": None if tracker is None else tracker.snapshot(),
            "tracker_set": None if self._tracker_set is None else list(self._tracker_set),
            "aspect": None if tracker is None else tracker.aspect_ratio,
        }

    @classmethod
    def restore(
        cls, plan: SessionPlan, data: Mapping[str, Any], config: GuideConfig | None = None
    ) -> LiveSession:
        if not isinstance(data, Mapping) or data.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"not a version {SNAPSHOT_VERSION} session snapshot")
        live = cls(plan, config)
        live.guide = SessionGuide.restore(plan, data["guide"], config)
        if data.get("tracker") is not None and data.get("tracker_set") is not None:
            index, set_no = (int(v) for v in data["tracker_set"])
            ex = plan.exercises[index]
            tracker = ExerciseTracker(
                ex.definition(), ex.reps, aspect_ratio=_aspect(data.get("aspect"))
            )
            tracker.restore(data["tracker"])
            live._tracker, live._tracker_set = tracker, (index, set_no)
        return live


def _aspect(value: object) -> float:
    if value is None:
        return 1.0
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise GuideError("bad_request", "aspect must be a number (image width / height)")
    aspect = float(value)
    if not MIN_ASPECT <= aspect <= MAX_ASPECT:
        raise GuideError("bad_request", f"aspect must lie in {MIN_ASPECT}..{MAX_ASPECT}")
    return aspect
