"""ExerciseTracker: one patient doing one set of one exercise, fed batches of pose frames.

Per batch the geometry is vectorised (angles of both sides, form measures, view ratio, framing
for all frames at once); per frame, in order: the view check (a wrong view pauses counting and
form cues, and says why), the side chooser (left/right swaps undone; the far limb of a side
view replaced by the near one, or the patient asked to turn), the visibility gate, the driving
signal (spike-proof median, noise measured, adaptive One-Euro), the rep counter with margins
from that noise (and a look back over the raw samples for a quick turn the smoothing lagged
behind), form rules, framing guidance, and the cue cooldown. A malformed batch is
refused before any state changes; faults of single frames (a repeated or late timestamp, NaN
landmarks, a restarted clock) are handled frame by frame (``validate_frames``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._angles import AngleMeasure, FloatArray, image_points, world_points
from ._aspect import AspectGuess
from ._cues import Cue, CueCooldown
from ._events import FormCue, PoseEvent, RepCounted, TrackingLost, TrackingOk
from ._filters import OneEuroFilter, OneEuroParams
from ._form import FormMonitor, RuleSet
from ._gate import GateChange, VisibilityGate
from ._input import Frames, validate_frames
from ._kinematics import AngleSpec, Kinematics
from ._landmarks import Landmark
from ._reps import Rep, RepCounter, RepPhase, RepRules, TempoVerdict
from ._sides import SideChooser
from ._signal import ROM_MAX_WIDTH, DrivingSignal, NoiseEstimate
from ._view import ViewCheck, shoulder_torso_ratio
from ._vocabulary import (
    ASPECT_CUE,
    HOLD_CUE,
    MORE_LIGHT_CUE,
    RANGE_CUE,
    REP_NOT_SEEN_CUE,
    STEP_BACK_CUE,
    TEMPO_FAST_CUE,
    TEMPO_SLOW_CUE,
    TURN_SIDE_CUE,
    CameraView,
    Direction,
    Severity,
    Side,
)

SNAPSHOT_VERSION = 2

_TEMPO_CUES = {
    TempoVerdict.TOO_FAST: Cue(TEMPO_FAST_CUE, "Slow down a little", Severity.INFO),
    TempoVerdict.TOO_SLOW: Cue(TEMPO_SLOW_CUE, "Try to keep a steady pace", Severity.INFO),
}
_HOLD = Cue(HOLD_CUE, "Hold the position a little longer", Severity.INFO)
_RANGE = Cue(RANGE_CUE, "Try to move a little further", Severity.INFO)
_STEP_BACK = Cue(
    STEP_BACK_CUE, "Step back so that your whole body, feet included, is in view", Severity.WARNING
)
_MORE_LIGHT = Cue(MORE_LIGHT_CUE, "Turn on more light so the camera can see you", Severity.WARNING)
_ASPECT = Cue(
    ASPECT_CUE,
    "The app did not say the camera's shape; angles are estimated until it is worked out",
    Severity.WARNING,
)
_NOT_SEEN = Cue(
    REP_NOT_SEEN_CUE, "That rep was out of view and could not be counted", Severity.INFO
)
_FRAMING_PERSIST_MS = 1000.0
RANGE_CUE_Z = 2.0
_LOW_LIGHT = 0.35  # median visibility of all landmarks below this, for the persist time
_OUT = 0.0  # image margin: a landmark outside [0, 1] is out of the picture
_TORSO_LEFT = [Landmark.LEFT_SHOULDER, Landmark.LEFT_HIP]
_TORSO_RIGHT = [Landmark.RIGHT_SHOULDER, Landmark.RIGHT_HIP]
_UNKNOWN = (math.nan, math.nan)


def _turn_cue(side: Side) -> Cue:
    return Cue(
        TURN_SIDE_CUE, f"Turn around so that your {side.value} side faces the camera",
        Severity.WARNING,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    """Tuning shared by all exercises (the definition holds what is exercise-specific).

    ``filter`` is the One-Euro filter at low noise; the driving signal lowers its cutoff and
    speed gain as the measured noise rises (``_signal.py``), and the form rules' channels use it
    as it is. ``wrong_view_abandon_ms``: a wrong view held this long drops the rep in progress.
    """

    filter: OneEuroParams = field(default_factory=OneEuroParams)
    visibility_threshold: float = 0.5
    debounce_ms: float = 30.0
    recover_ms: float = 250.0
    abandon_after_ms: float = 1500.0  # a longer loss drops the rep in progress
    cue_cooldown_ms: float = 3000.0
    cue_repeat_ms: float = 10000.0
    view_persist_ms: float = 1000.0
    wrong_view_abandon_ms: float = 300.0


@dataclass(frozen=True, slots=True)
class Measures:
    """Per frame of a batch: driving joints visible, the driving angle and each form rule's
    measure ((N, 1 + R) channels, unfiltered), the camera-view ratio; for a one-sided driving
    angle both sides' angles (prescribed first), whether each is visible, and their driving
    points (N, 8) for the swap check and the torso's left-minus-right vector (x, z) that tells
    which way the labels are; a driving landmark out of the picture; the median visibility of
    the whole body."""

    trackable: list[bool]
    channels: FloatArray
    ratios: list[float]
    pair: FloatArray | None = None
    pair_seen: list[tuple[bool, bool]] | None = None
    points: list[list[float]] | None = None
    out_of_frame: list[bool] | None = None
    light: list[float] | None = None
    facing: list[tuple[float, float]] | None = None

    def part(self, start: int, stop: int) -> Measures:
        """The measures of frames ``start:stop``."""

        def cut(x: Any) -> Any:
            return None if x is None else x[start:stop]

        return Measures(
            self.trackable[start:stop],
            self.channels[start:stop],
            self.ratios[start:stop],
            cut(self.pair),
            cut(self.pair_seen),
            cut(self.points),
            cut(self.out_of_frame),
            cut(self.light),
            cut(self.facing),
        )


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
    image separately, and angles are only right once x is rescaled. ``None`` says the client did
    not tell: the tracker then says so (cue ``aspect_unknown``, once) and works the ratio out
    from the body (limb lengths do not change as limbs turn), counting nothing until it has.
    With ``world_landmarks`` given to ``feed``, angles are 3-D (metres) and the aspect ratio
    does not matter for them.
    """

    def __init__(
        self,
        kinematics: Kinematics,
        target_reps: int,
        *,
        aspect_ratio: float | None = 1.0,
        config: TrackerConfig | None = None,
    ) -> None:
        if target_reps < 1:
            raise ValueError("target_reps must be at least 1")
        if aspect_ratio is not None and not (math.isfinite(aspect_ratio) and aspect_ratio > 0):
            raise ValueError("aspect_ratio must be a positive number (image width / height)")
        self.kinematics = kinematics
        self.target_reps = target_reps
        self.aspect_given = aspect_ratio is not None
        self.aspect_ratio = 1.0 if aspect_ratio is None else aspect_ratio
        self.config = config or TrackerConfig()
        self._digest = kinematics.digest()
        spec = kinematics.driving
        self._driving = AngleMeasure(spec)
        self._one_sided = spec.side is not Side.BOTH
        self._pair = AngleMeasure(AngleSpec(spec.a, spec.vertex, spec.c, Side.BOTH))
        own = 0 if spec.side is not Side.RIGHT else 1
        order = (own, 1 - own)
        self._pair_cols = order
        triples = self._pair.triples
        self._side_landmarks = [np.array(triples[k], dtype=np.intp) for k in order]
        self._swap_points = np.array([triples[k][j] for k in order for j in (1, 2)], dtype=np.intp)
        self._turn = _turn_cue(Side.LEFT if own == 0 else Side.RIGHT)
        self._rules = RuleSet(kinematics.form_rules, kinematics.driving)
        self._last_t: float | None = None
        self._offset = 0.0
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
            DrivingSignal(cfg.filter),
            SideChooser(kin.view is CameraView.SIDE),
            _Guidance(),
            None if self.aspect_given else AspectGuess(),
            _FormNoise(len(kin.form_rules)),
        )

    def _install(self, parts: _Parts) -> None:
        self._filter = parts.filter
        self._counter = parts.counter
        self._gate = parts.gate
        self._form = parts.form
        self._view = parts.view
        self._cues = parts.cues
        self._signal = parts.signal
        self._sides = parts.sides
        self._guide = parts.guidance
        self._aspect = parts.aspect
        self._form_noise = parts.form_noise

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
    def noise_deg(self) -> float:
        """The driving angle's measured noise (standard deviation per frame, degrees)."""
        return self._signal.sigma

    @property
    def angles(self) -> FloatArray:
        """The counter's driving angle for each frame of the last batch as sent (NaN while not
        tracking, and for a frame dropped alone); for a live gauge, and for measuring the
        pipeline's accuracy."""
        return self._angles.copy()

    @property
    def last_t_ms(self) -> float | None:
        """The time of the last frame taken, on the tracker's time base."""
        return self._last_t

    @property
    def geometry(self) -> tuple[str, float, float]:
        """Trackers with equal keys measure frames identically (``measure_together``)."""
        return self._digest, self.aspect_ratio, self.config.visibility_threshold

    def validate(
        self, t_ms: ArrayLike, landmarks: ArrayLike, world_landmarks: ArrayLike | None = None
    ) -> Frames:
        """The batch checked as ``feed`` checks it; raises ``PoseInputError``."""
        return validate_frames(
            t_ms, landmarks, world_landmarks, after_ms=self._last_t, offset_ms=self._offset
        )

    def measure(self, frames: Frames) -> Measures:
        """The vectorised, stateless part of ``feed``: what each frame shows."""
        cfg = self.config
        image = image_points(frames.image, self.aspect_ratio)
        visible = frames.image[..., 3] >= cfg.visibility_threshold
        points = image if frames.world is None else world_points(frames.world)
        frontal = frames.world is not None or self.kinematics.view is CameraView.FRONT
        forms = self._rules.measure(points, visible, frontal)
        ratios = shoulder_torso_ratio(image, visible).tolist()
        xy = frames.image[..., :2]
        outside = ((xy < _OUT) | (xy > 1.0 - _OUT)).any(axis=2) & ~visible
        light = np.median(frames.image[..., 3], axis=1).tolist()
        if not self._one_sided:
            drive = self._driving.mean(points)
            seen = visible[:, self._driving.landmarks].all(axis=1) & np.isfinite(drive)
            channels = np.column_stack([drive, forms])
            out = outside[:, self._driving.landmarks].any(axis=1).tolist()
            return Measures(seen.tolist(), channels, ratios, out_of_frame=out, light=light)
        both = self._pair.per_side(points)[:, list(self._pair_cols)]
        seen_each = [
            visible[:, lms].all(axis=1) & np.isfinite(both[:, k])
            for k, lms in enumerate(self._side_landmarks)
        ]
        swap_xy = image[:, self._swap_points].reshape(len(image), -1)
        channels = np.column_stack([both[:, 0], forms])
        out = outside[:, self._side_landmarks[0]].any(axis=1).tolist()
        # MediaPipe's z is scaled like x (to the image width): both times the aspect ratio.
        # Only the four torso landmarks: this runs for every frame of every session.
        left, right = ((frames.image[:, side][..., [0, 2]] * self.aspect_ratio).sum(axis=1)
                       for side in (_TORSO_LEFT, _TORSO_RIGHT))  # fmt: skip
        facing = (left - right).tolist()
        return Measures(
            seen_each[0].tolist(),
            channels,
            ratios,
            both,
            list(zip(seen_each[0].tolist(), seen_each[1].tolist(), strict=True)),
            swap_xy.tolist(),
            out,
            light,
            [(x, z) for x, z in facing],
        )

    def feed(
        self,
        t_ms: ArrayLike,
        landmarks: ArrayLike,
        world_landmarks: ArrayLike | None = None,
        *,
        measured: Measured | None = None,
    ) -> list[PoseEvent]:
        """Process (N,) frame times in ms and (N, 33, 4) landmarks [x, y, z, visibility];
        optional (N, 33, 3|4) world landmarks. Raises ``PoseInputError`` (state untouched) for
        a malformed batch. ``measured``: these very frames already validated and measured for
        this tracker in its current state (``measure_together``); used only when that still
        holds."""
        measures: Measures | None = None
        if (
            measured is not None
            and measured.tracker is self
            and measured.after_ms == self._last_t
            and measured.frames.offset_ms == self._offset
        ):
            frames, measures = measured.frames, measured.measures
        else:
            frames = self.validate(t_ms, landmarks, world_landmarks)
            if len(frames):
                measures = self.measure(frames)
        sent = frames.sent if frames.sent else len(frames)
        self._offset = frames.offset_ms
        n = len(frames)
        if n == 0 or measures is None:
            self._angles = np.full(sent, np.nan)
            return []
        events: list[PoseEvent] = []
        if self._aspect is not None:
            events += self._learn_aspect(frames)
            measures = self.measure(frames)
        angles = self._run(frames, measures, events)
        out = np.full(sent, np.nan)
        out[frames.index if frames.index else slice(0, n)] = angles
        self._angles = out
        return events

    def _learn_aspect(self, frames: Frames) -> list[PoseEvent]:
        guess = self._aspect
        assert guess is not None
        events: list[PoseEvent] = []
        t0 = float(frames.t_ms[0])
        if not guess.announced:
            guess.announced = True
            events.append(FormCue(t0, _ASPECT.code, _ASPECT.message, _ASPECT.severity))
        found = guess.add(frames.image)
        if found is not None and abs(found - self.aspect_ratio) > 1e-6:
            self.aspect_ratio = found
            self._counter.abandon()  # angles measured on the old guess must not finish a rep
            self._signal.reset()
        return events

    def _run(self, frames: Frames, measures: Measures, events: list[PoseEvent]) -> FloatArray:
        cfg = self.config
        times = frames.t_ms.tolist()
        n = len(times)
        angles = np.full(n, np.nan)
        channels, ratios = measures.channels, measures.ratios
        guessing = self._aspect is not None and not self._aspect.settled
        for i, t in enumerate(times):
            due: list[Cue] = []
            if self._view.step(t, math.nan if guessing else ratios[i]):
                due.append(self._view.cue)
            wrong = self._view.wrong_since is not None
            if measures.pair is not None and measures.pair_seen is not None:
                pts = measures.points[i] if measures.points is not None else []
                a, b = measures.pair[i].tolist()
                facing = measures.facing[i] if measures.facing is not None else _UNKNOWN
                raw, seen, turn = self._sides.step(t, (a, b), measures.pair_seen[i], pts, facing)
                if turn:
                    due += self._guide.once(self._turn)
            else:
                raw, seen = float(channels[i, 0]), measures.trackable[i]
            due += self._framing(t, measures, i, seen)
            seen = seen and not guessing
            change = self._gate.step(t, seen)
            if change is GateChange.LOST:
                events.append(TrackingLost(t))
                self._guide.lost_in_rep = self._counter.phase in _IN_REP
                self._signal.reset()
                self._filter.reset()
                self._form.reset()
                self._counter.interrupt()
            elif change is GateChange.RECOVERED:
                events.append(TrackingOk(t))
                if self._gate.gap_ms > cfg.abandon_after_ms:
                    if self._counter.phase in _IN_REP:
                        due += self._guide.once(_NOT_SEEN)
                    self._counter.abandon()
                for pt, praw in self._guide.pending:  # the recovery window's frames count too
                    self._count(pt, praw, due, events)
                self._guide.pending = []
            elif not self._gate.tracking and seen and len(self._guide.pending) < 64:
                self._guide.pending.append((t, raw))
            elif not self._gate.tracking:
                self._guide.pending = []
            if self._gate.tracking:
                if wrong:
                    # Counting and form wait while the view is wrong; a wrong view held on
                    # drops the rep in progress, so nothing half-seen completes afterwards.
                    self._counter.interrupt()
                    since = self._view.wrong_since
                    if since is not None and t - since >= cfg.wrong_view_abandon_ms:
                        self._counter.abandon()
                else:
                    self._count(t, raw, due, events)
                    row = channels[i].copy()
                    row[0] = raw
                    smooth = self._filter.step(t, row)
                    angles[i] = smooth[0]
                    margins, extra = self._form_noise.margins(channels[i, 1:])
                    violated = self._rules.violated(smooth[1:], margins)
                    for j in self._form.step(t, violated, extra):
                        due.append(self._rules.cues[j])
            cue = self._cues.pick(t, due)
            if cue is not None:
                self._guide.spoken(cue)
                events.append(FormCue(t, cue.code, cue.message, cue.severity))
        self._last_t = times[-1]
        return angles

    def _count(self, t: float, raw: float, due: list[Cue], events: list[PoseEvent]) -> float:
        before = self._counter.phase
        angle = self._signal.step(t, raw)
        enter, exit_, confirm = self._signal.margins()
        rep = self._counter.step(t, angle, enter, exit_, confirm, self._turn_check)
        if rep is not None:
            rom, sd = self._signal.rom()
            rep = _with_rom(rep, rom, sd)
            events.append(_rep_event(rep))
            due.extend(self._rep_cues(rep, seen_whole=not self._guide.lost_in_rep))
            self._guide.lost_in_rep = False
        elif self._guide.lost_in_rep and before in _IN_REP and self._counter.phase is RepPhase.REST:
            due += self._guide.once(_NOT_SEEN)  # the rep went out of sight and came back short
            self._guide.lost_in_rep = False
        elif self._counter.phase is RepPhase.REST and before is RepPhase.REST:
            self._guide.lost_in_rep = False
        return angle

    def _turn_check(self, since_ms: float) -> bool:
        kin = self.kinematics
        sign = 1.0 if kin.direction is Direction.EXTENSION else -1.0
        return self._signal.turn_reached(since_ms, kin.enter_deg, sign)

    def _framing(self, t: float, measures: Measures, i: int, seen: bool) -> list[Cue]:
        out: list[Cue] = []
        g = self._guide
        off = measures.out_of_frame is not None and measures.out_of_frame[i] and not seen
        g.out_since = (t if g.out_since is None else g.out_since) if off else None
        if g.out_since is not None and t - g.out_since >= _FRAMING_PERSIST_MS:
            out += g.once(_STEP_BACK)
        dark = measures.light is not None and measures.light[i] < _LOW_LIGHT
        g.dark_since = (t if g.dark_since is None else g.dark_since) if dark else None
        if g.dark_since is not None and t - g.dark_since >= _FRAMING_PERSIST_MS:
            out += g.once(_MORE_LIGHT)
        return out

    def _rep_cues(self, rep: Rep, seen_whole: bool = True) -> list[Cue]:
        cues = []
        # The range is judged with its uncertainty: only a shortfall the noise cannot explain
        # (one-sided, about 2% of full reps cued at worst; the smoothing may still trim a
        # brief turning point under heavy noise, which a single uncertainty does not cover).
        # A rep whose tracking was lost on the way (its turning point hidden, say) has a range
        # that stops where the view did: no cue to move further on that.
        if (
            seen_whole
            and rep.rom_deg + RANGE_CUE_Z * rep.rom_sd_deg < self.kinematics.target_rom_deg
        ):
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
            "offset": self._offset,
            "aspect": self.aspect_ratio,
            "filter": self._filter.snapshot(),
            "counter": self._counter.snapshot(),
            "gate": self._gate.snapshot(),
            "form": self._form.snapshot(),
            "view": self._view.snapshot(),
            "cues": self._cues.snapshot(),
            "signal": self._signal.snapshot(),
            "sides": self._sides.snapshot(),
            "guidance": self._guide.snapshot(),
            "aspect_guess": None if self._aspect is None else self._aspect.snapshot(),
            "form_noise": self._form_noise.snapshot(),
        }

    def restore(self, snapshot: Mapping[str, Any]) -> None:
        """Replace this tracker's state; raises ``ValueError`` (state untouched) for a snapshot
        of another definition or an unknown version, or a malformed one. A version 1 snapshot
        (before the noise-aware signal) is converted (``_from_v1``)."""
        if isinstance(snapshot, Mapping) and snapshot.get("v") == 1:
            snapshot = self._from_v1(snapshot)
        if not isinstance(snapshot, Mapping) or snapshot.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"not a version 1 or {SNAPSHOT_VERSION} tracker snapshot")
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
            offset = _real(snapshot["offset"])
            aspect = _real(snapshot["aspect"])
            if aspect <= 0:
                raise ValueError("aspect must be positive")
            parts.filter.restore(snapshot["filter"])
            parts.counter.restore(snapshot["counter"])
            parts.gate.restore(snapshot["gate"])
            parts.form.restore(snapshot["form"])
            parts.view.restore(snapshot["view"])
            parts.cues.restore(snapshot["cues"])
            parts.signal.restore(snapshot["signal"])
            parts.sides.restore(snapshot["sides"])
            parts.guidance.restore(snapshot["guidance"])
            parts.form_noise.restore(snapshot["form_noise"])
            if parts.aspect is not None and snapshot["aspect_guess"] is not None:
                parts.aspect.restore(snapshot["aspect_guess"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed tracker snapshot: {exc!r}") from exc
        self._install(parts)
        self._last_t = None if last_t is None else float(last_t)
        self._offset = offset
        if not self.aspect_given:
            self.aspect_ratio = aspect

    def _from_v1(self, v1: Mapping[str, Any]) -> dict[str, Any]:
        """A snapshot taken before version 2 (a live session saved before the deploy that
        brought it) as a version 2 one. Version 1 holds the filter, counter, gate, form, view
        and cue states, in today's formats: they carry over. What version 2 added starts as on
        a new set: the driving signal's smoothing and noise estimate (its first frame passes
        through, as after a tracking loss), the side chooser, guidance, form noise, a time
        base without offset, the aspect ratio given. The rep in progress keeps the range the
        counter saw so far: its extremes seed the range samples, each repeated past the widest
        smoothing so that the smoothing cannot blend them away."""
        fresh = self._new_parts()
        signal = fresh.signal.snapshot()
        counter = v1.get("counter")
        if isinstance(counter, Mapping):
            ends = [
                float(x)
                for x in (counter.get("lo"), counter.get("hi"))
                if isinstance(x, float | int) and math.isfinite(x)
            ]
            if len(ends) == 2:
                signal["samples"] = [x for x in ends for _ in range(ROM_MAX_WIDTH)]
        return {
            **v1,
            "v": SNAPSHOT_VERSION,
            "offset": 0.0,
            "aspect": self.aspect_ratio,
            "signal": signal,
            "sides": fresh.sides.snapshot(),
            "guidance": fresh.guidance.snapshot(),
            "aspect_guess": None,
            "form_noise": fresh.form_noise.snapshot(),
        }


_IN_REP = frozenset({RepPhase.OUTWARD, RepPhase.TURN, RepPhase.RETURN})


def _real(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("expected a finite number")
    return float(value)


class _Guidance:
    """Framing guidance said once a set, and the frames of a recovery window."""

    __slots__ = ("said", "out_since", "dark_since", "lost_in_rep", "pending")

    def __init__(self) -> None:
        self.said: set[str] = set()
        self.out_since: float | None = None
        self.dark_since: float | None = None
        self.lost_in_rep = False
        self.pending: list[tuple[float, float]] = []

    def once(self, cue: Cue) -> list[Cue]:
        return [] if cue.code in self.said else [cue]

    def spoken(self, cue: Cue) -> None:
        if cue.code in _ONCE:
            self.said.add(cue.code)

    def snapshot(self) -> dict[str, Any]:
        return {
            "said": sorted(self.said),
            "out_since": self.out_since,
            "dark_since": self.dark_since,
            "lost_in_rep": self.lost_in_rep,
            "pending": [list(p) for p in self.pending],
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        said = state["said"]
        if not isinstance(said, list) or not all(c in _ONCE for c in said):
            raise ValueError("snapshot field 'said' must list guidance codes")
        pending = state["pending"]
        if not isinstance(pending, list) or len(pending) > 64:
            raise ValueError("snapshot field 'pending' must be a short list")
        lost = state["lost_in_rep"]
        if not isinstance(lost, bool):
            raise ValueError("snapshot field 'lost_in_rep' must be a boolean")
        self.pending = [(_real(p[0]), _real(p[1])) for p in pending]
        self.said = set(said)
        self.out_since = None if state["out_since"] is None else _real(state["out_since"])
        self.dark_since = None if state["dark_since"] is None else _real(state["dark_since"])
        self.lost_in_rep = lost


class _FormNoise:
    """Each form measure's noise, measured as the driving angle's is: a rule fires only when
    its smoothed measure is past the threshold by more than ``FORM_MARGIN_PER_SIGMA`` of it, for
    its persistence plus ``FORM_PERSIST_MS_PER_SIGMA`` per degree (3 cm of noise on world
    landmarks is about 9 degrees of knee valgus per frame: brief excursions, not a fault)."""

    __slots__ = ("_noise",)

    def __init__(self, rules: int) -> None:
        self._noise = [NoiseEstimate() for _ in range(rules)]

    def margins(self, values: FloatArray) -> tuple[FloatArray, list[float]]:
        """Per rule: the margin past its threshold (degrees) and the extra persistence (ms)."""
        margins, extra = [], []
        for noise, value in zip(self._noise, values.tolist(), strict=True):
            sigma = noise.step(value) if math.isfinite(value) else noise.sigma
            margins.append(FORM_MARGIN_PER_SIGMA * sigma)
            extra.append(min(FORM_PERSIST_MS_PER_SIGMA * sigma, MAX_FORM_EXTRA_MS))
        return np.array(margins), extra

    def snapshot(self) -> list[dict[str, Any]]:
        return [n.snapshot() for n in self._noise]

    def restore(self, state: Any) -> None:
        if not isinstance(state, list) or len(state) != len(self._noise):
            raise ValueError("snapshot field 'form_noise' does not match the form rules")
        for noise, item in zip(self._noise, state, strict=True):
            noise.restore(item)


FORM_MARGIN_PER_SIGMA = 0.5
FORM_PERSIST_MS_PER_SIGMA = 60.0
MAX_FORM_EXTRA_MS = 800.0


_ONCE = frozenset({TURN_SIDE_CUE, STEP_BACK_CUE, MORE_LIGHT_CUE, ASPECT_CUE, REP_NOT_SEEN_CUE})


@dataclass(frozen=True, slots=True)
class _Parts:
    filter: OneEuroFilter
    counter: RepCounter
    gate: VisibilityGate
    form: FormMonitor
    view: ViewCheck
    cues: CueCooldown
    signal: DrivingSignal
    sides: SideChooser
    guidance: _Guidance
    aspect: AspectGuess | None
    form_noise: _FormNoise


def _with_rom(rep: Rep, rom: float, sd: float) -> Rep:
    return Rep(rep.number, rep.t_ms, rom, rep.duration_ms, rep.hold_ms, rep.tempo, rep.hold_ok, sd)


def _rep_event(rep: Rep) -> RepCounted:
    return RepCounted(
        t_ms=rep.t_ms,
        rep=rep.number,
        rom_deg=rep.rom_deg,
        duration_ms=round(rep.duration_ms),
        tempo=rep.tempo,
        hold_ms=round(rep.hold_ms),
        rom_sd_deg=rep.rom_sd_deg,
    )
