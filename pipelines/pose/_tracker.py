"""ExerciseTracker: one patient doing one set of one exercise, fed batches of pose frames.

Per batch the geometry is vectorised (angles, form measures, view ratio for all frames at
once); per frame, in order: view check, visibility gate, One-Euro filter, rep counter, form
rules, cue cooldown. A batch is validated in full before any state changes, so a refused batch
leaves the tracker exactly as it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._angles import AngleMeasure, FloatArray, image_points, world_points
from ._cues import Cue, CueCooldown
from ._events import FormCue, PoseEvent, RepCounted, TrackingLost, TrackingOk
from ._filters import OneEuroFilter, OneEuroParams
from ._form import FormMonitor, RuleSet
from ._gate import GateChange, VisibilityGate
from ._input import Frames, validate_frames
from ._kinematics import Kinematics
from ._reps import Rep, RepCounter, RepRules, TempoVerdict
from ._view import ViewCheck, shoulder_torso_ratio
from ._vocabulary import (
    HOLD_CUE,
    RANGE_CUE,
    TEMPO_FAST_CUE,
    TEMPO_SLOW_CUE,
    CameraView,
    Severity,
)

SNAPSHOT_VERSION = 1

_TEMPO_CUES = {
    TempoVerdict.TOO_FAST: Cue(TEMPO_FAST_CUE, "Slow down a little", Severity.INFO),
    TempoVerdict.TOO_SLOW: Cue(TEMPO_SLOW_CUE, "Try to keep a steady pace", Severity.INFO),
}
_HOLD = Cue(HOLD_CUE, "Hold the position a little longer", Severity.INFO)
_RANGE = Cue(RANGE_CUE, "Try to move a little further", Severity.INFO)


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tuning shared by all exercises (the definition holds what is exercise-specific).

    The filter's defaults (min cutoff 1 Hz, beta 0.2 Hz per degree/s, derivative cutoff 1 Hz)
    keep the lag on 2-5 s reps to about half a degree on average and cut 3-degree jitter at rest
    to under 2 degrees; bench/pose_accuracy.py measures both.
    """

    filter: OneEuroParams = field(default_factory=OneEuroParams)
    visibility_threshold: float = 0.5
    debounce_ms: float = 30.0
    recover_ms: float = 250.0
    abandon_after_ms: float = 1500.0  # a longer loss drops the rep in progress
    cue_cooldown_ms: float = 3000.0
    cue_repeat_ms: float = 10000.0
    view_persist_ms: float = 1000.0


@dataclass(frozen=True, slots=True)
class Measures:
    """Per frame of a batch: driving joints visible, the driving angle and each form rule's
    measure ((N, 1 + R) channels, unfiltered), and the camera-view ratio."""

    trackable: list[bool]
    channels: FloatArray
    ratios: list[float]


@dataclass(frozen=True, slots=True)
class Measured:
    """A batch validated and measured ahead of ``feed``, for one tracker in one state (its last
    frame time ``after_ms``): ``feed`` recomputes instead when either no longer holds."""

    tracker: ExerciseTracker
    after_ms: float | None
    frames: Frames
    measures: Measures


class ExerciseTracker:
    """Counts reps and raises cues for one set.

    ``aspect_ratio`` is the source image's width / height: MediaPipe normalises x and y to the
    image separately, and angles are only right once x is rescaled. With ``world_landmarks``
    given to ``feed``, angles are 3-D (metres) and the aspect ratio does not matter for them.
    """

    def __init__(
        self,
        kinematics: Kinematics,
        target_reps: int,
        *,
        aspect_ratio: float = 1.0,
        config: TrackerConfig | None = None,
    ) -> None:
        if target_reps < 1:
            raise ValueError("target_reps must be at least 1")
        if not (math.isfinite(aspect_ratio) and aspect_ratio > 0):
            raise ValueError("aspect_ratio must be a positive number (image width / height)")
        self.kinematics = kinematics
        self.target_reps = target_reps
        self.aspect_ratio = aspect_ratio
        self.config = config or TrackerConfig()
        self._digest = kinematics.digest()
        self._driving = AngleMeasure(kinematics.driving)
        self._rules = RuleSet(kinematics.form_rules, kinematics.driving)
        self._last_t: float | None = None
        self._angles: FloatArray = np.empty(0)
        self._install(self._new_parts())

    def _new_parts(self) -> _Parts:
        cfg, kin = self.config, self.kinematics
        return _Parts(
            OneEuroFilter(1 + len(kin.form_rules), cfg.filter),
            RepCounter(RepRules.from_kinematics(kin, cfg.debounce_ms)),
            VisibilityGate(cfg.recover_ms),
            FormMonitor(kin.form_rules),
            ViewCheck(kin.view, cfg.view_persist_ms),
            CueCooldown(cfg.cue_cooldown_ms, cfg.cue_repeat_ms),
        )

    def _install(self, parts: _Parts) -> None:
        self._filter = parts.filter
        self._counter = parts.counter
        self._gate = parts.gate
        self._form = parts.form
        self._view = parts.view
        self._cues = parts.cues

    @property
    def reps(self) -> int:
        return self._counter.count

    @property
    def complete(self) -> bool:
        return self._counter.count >= self.target_reps

    @property
    def tracking(self) -> bool:
        return self._gate.tracking

    @property
    def angles(self) -> FloatArray:
        """The filtered driving angle of each frame of the last batch (NaN while not tracking);
        for a live gauge, and for measuring the pipeline's accuracy."""
        return self._angles.copy()

    @property
    def last_t_ms(self) -> float | None:
        """The time of the last frame taken; a batch must start after it."""
        return self._last_t

    @property
    def geometry(self) -> tuple[str, float, float]:
        """Trackers with equal keys measure frames identically (``measure_together``)."""
        return self._digest, self.aspect_ratio, self.config.visibility_threshold

    def validate(
        self, t_ms: ArrayLike, landmarks: ArrayLike, world_landmarks: ArrayLike | None = None
    ) -> Frames:
        """The batch checked as ``feed`` checks it; raises ``PoseInputError``."""
        return validate_frames(t_ms, landmarks, world_landmarks, after_ms=self._last_t)

    def measure(self, frames: Frames) -> Measures:
        """The vectorised, stateless part of ``feed``: what each frame shows."""
        cfg = self.config
        image = image_points(frames.image, self.aspect_ratio)
        visible = frames.image[..., 3] >= cfg.visibility_threshold
        points = image if frames.world is None else world_points(frames.world)
        drive = self._driving.mean(points)
        trackable = (visible[:, self._driving.landmarks].all(axis=1) & np.isfinite(drive)).tolist()
        frontal = frames.world is not None or self.kinematics.view is CameraView.FRONT
        channels = np.column_stack([drive, self._rules.measure(points, visible, frontal)])
        ratios = shoulder_torso_ratio(image, visible).tolist()
        return Measures(trackable, channels, ratios)

    def feed(
        self,
        t_ms: ArrayLike,
        landmarks: ArrayLike,
        world_landmarks: ArrayLike | None = None,
        *,
        measured: Measured | None = None,
    ) -> list[PoseEvent]:
        """Process (N,) frame times in ms and (N, 33, 4) landmarks [x, y, z, visibility];
        optional (N, 33, 3|4) world landmarks. Raises ``PoseInputError`` (state untouched).
        ``measured``: these very frames already validated and measured for this tracker in its
        current state (``measure_together``); used only when that still holds."""
        measures: Measures | None = None
        if measured is not None and measured.tracker is self and measured.after_ms == self._last_t:
            frames, measures = measured.frames, measured.measures
        else:
            frames = self.validate(t_ms, landmarks, world_landmarks)
            if len(frames):
                measures = self.measure(frames)
        n = len(frames)
        if n == 0 or measures is None:
            self._angles = np.empty(0)
            return []
        cfg = self.config
        trackable, channels, ratios = measures.trackable, measures.channels, measures.ratios
        times = frames.t_ms.tolist()
        angles = np.full(n, np.nan)
        events: list[PoseEvent] = []
        for i, t in enumerate(times):
            due: list[Cue] = []
            if self._view.step(t, ratios[i]):
                due.append(self._view.cue)
            change = self._gate.step(t, trackable[i])
            if change is GateChange.LOST:
                events.append(TrackingLost(t))
                self._filter.reset()
                self._form.reset()
                self._counter.interrupt()
            elif change is GateChange.RECOVERED:
                events.append(TrackingOk(t))
                if self._gate.gap_ms > cfg.abandon_after_ms:
                    self._counter.abandon()
            if self._gate.tracking:
                smooth = self._filter.step(t, channels[i])
                angles[i] = angle = float(smooth[0])
                rep = self._counter.step(t, angle)
                if rep is not None:
                    events.append(_rep_event(rep))
                    due.extend(self._rep_cues(rep))
                for j in self._form.step(t, self._rules.violated(smooth[1:])):
                    due.append(self._rules.cues[j])
            cue = self._cues.pick(t, due)
            if cue is not None:
                events.append(FormCue(t, cue.code, cue.message, cue.severity))
        self._last_t = times[-1]
        self._angles = angles
        return events

    def _rep_cues(self, rep: Rep) -> list[Cue]:
        cues = []
        if rep.rom_deg < self.kinematics.target_rom_deg:
            cues.append(_RANGE)
        if rep.tempo in _TEMPO_CUES:
            cues.append(_TEMPO_CUES[rep.tempo])
        if self.kinematics.hold_ms > 0 and not rep.hold_ok:
            cues.append(_HOLD)
        return cues

    def snapshot(self) -> dict[str, Any]:
        """The whole state as a small JSON-ready dict; ``restore`` on a tracker built from the
        same definition continues exactly where this one stands."""
        return {
            "v": SNAPSHOT_VERSION,
            "definition": self._digest,
            "last_t": self._last_t,
            "filter": self._filter.snapshot(),
            "counter": self._counter.snapshot(),
            "gate": self._gate.snapshot(),
            "form": self._form.snapshot(),
            "view": self._view.snapshot(),
            "cues": self._cues.snapshot(),
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Replace this tracker's state; raises ``ValueError`` (state untouched) for a snapshot
        of another definition or version, or a malformed one."""
        if not isinstance(snapshot, Mapping) or snapshot.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"not a version {SNAPSHOT_VERSION} tracker snapshot")
        if snapshot.get("definition") != self._digest:
            raise ValueError("the snapshot was taken for a different exercise definition")
        parts = self._new_parts()
        try:
            last_t = snapshot["last_t"]
            if last_t is not None and (
                isinstance(last_t, bool)
                or not isinstance(last_t, int | float)
                or not math.isfinite(last_t)
            ):
                raise ValueError("last_t must be a finite number or null")
            parts.filter.restore(snapshot["filter"])
            parts.counter.restore(snapshot["counter"])
            parts.gate.restore(snapshot["gate"])
            parts.form.restore(snapshot["form"])
            parts.view.restore(snapshot["view"])
            parts.cues.restore(snapshot["cues"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed tracker snapshot: {exc!r}") from exc
        self._install(parts)
        self._last_t = None if last_t is None else float(last_t)


@dataclass(frozen=True, slots=True)
class _Parts:
    filter: OneEuroFilter
    counter: RepCounter
    gate: VisibilityGate
    form: FormMonitor
    view: ViewCheck
    cues: CueCooldown


def _rep_event(rep: Rep) -> RepCounted:
    return RepCounted(
        t_ms=rep.t_ms,
        rep=rep.number,
        rom_deg=rep.rom_deg,
        duration_ms=round(rep.duration_ms),
        tempo=rep.tempo,
        hold_ms=round(rep.hold_ms),
    )
