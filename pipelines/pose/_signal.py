"""The driving angle as the counter sees it: spikes out, noise measured, smoothing that follows it.

Per frame: the raw angle's noise is measured from its second differences (for white noise of
sigma s, x[i-1] - 2 x[i] + x[i+1] has mean absolute value s * sqrt(6) * sqrt(2 / pi), while a
rep's own curvature adds well under a degree per frame at 15-60 fps); a median of the last
``MEDIAN`` samples removes spikes up to three frames long; a One-Euro filter whose cutoff and
speed gain drop as the measured noise rises smooths the rest. The counter's thresholds then get
a margin in proportion to the same noise (``margin_deg``), so a rep that stops short of a
threshold does not cross it on noise, however noisy the camera.

The samples since the last counted rep are kept (bounded) to measure its range of motion
robustly: the extremes of a centred moving average of the spike-free samples, whose width grows
with the noise, reported with an uncertainty.

The raw samples and their times are kept as well, for a second look at a movement that went
back to rest without the smoothed angle clearing the enter threshold (``turn_reached``): the
smoothing lags, and a quick turning point (150 ms at 15 fps) is over before the smoothed angle
gets there. Looking back, the turning point is judged on centred averages, which do not lag:
the movement turned if an average over some window of ``TURN_WIDTHS`` samples is past the
threshold by more than ``TURN_Z`` standard deviations of that average's noise, plus the
deviations by which the likeliest of all the windows looked at strays on noise alone. Short
windows catch quick turns at low noise, long ones slow turns at heavy noise; a rep that stops
short of the threshold, however long it hovers there, has to beat those deviations to count.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _state
from ._angles import FloatArray
from ._filters import OneEuroFilter, OneEuroParams

MEDIAN = 7
MEDIAN_MS = 240.0
ROM_MAX_WIDTH = 31  # the widest fit the range is measured through (samples: 1 s at 30 fps)
ROM_WIDTH_PER_SIGMA = 2.0  # half-width of that fit per degree of noise
MAX_SAMPLES = 2400  # 80 s at 30 fps: one rep and its rest, far longer than any tempo bound
_MEAN_ABS_D2 = math.sqrt(6.0) * math.sqrt(2.0 / math.pi)  # E|d2| / sigma for white noise
_SIGMA_REF = 2.0  # degrees of raw noise at which the filter's smoothing has doubled
# The smoothed angle still wanders by a fraction of the raw noise for longer than a confirmation
# lasts; 0.6 of it let reps stopping 2 degrees short count at 1% landmark noise (8 of 384 on the
# adversarial set), 0.8 none, while real reps at 2% noise still count (98.2%).
ENTER_MARGIN_PER_SIGMA = 0.8
EXIT_MARGIN_PER_SIGMA = 0.25
MAX_ENTER_MARGIN = 8.0
MAX_EXIT_MARGIN = 4.0
CONFIRM_MS_PER_SIGMA = 12.0
MAX_CONFIRM_MS = 150.0
TURN_WIDTHS = (2, 3, 5, 9, 17, 33)  # samples per centred average of the look back
TURN_Z = 1.5  # deviations of an average's noise it must clear the enter threshold by, on top
# of those the likeliest of its windows strays by on noise alone
OUTLIER_SIGMAS = 4.0  # a raw sample this far from its centred median (plus OUTLIER_DEG and two
OUTLIER_DEG = 6.0  # steps at the samples' pace) is a spike, not movement: the median stands in
OUTLIER_WIDTH = 7  # a spike of up to three frames is outvoted
LOOK_BACK_SAMPLES = 600  # raw samples kept for it: 20 s at 30 fps, far longer than a turn


class NoiseEstimate:
    """Running robust estimate of a signal's white-noise sigma (degrees)."""

    __slots__ = ("sigma", "_seen", "_prev")

    def __init__(self, sigma: float = 1.0) -> None:
        self.sigma = sigma
        self._seen = 0
        self._prev: list[float] = []

    def step(self, x: float) -> float:
        prev = self._prev
        if len(prev) == 2:
            d2 = abs(prev[0] - 2.0 * prev[1] + x)
            mean_abs = self.sigma * _MEAN_ABS_D2
            # Clip what one frame can add (a spike or a swap is not noise), and learn fast at
            # first so that a noisy camera is known within a second or two.
            d2 = min(d2, 4.0 * mean_abs + 1.0)
            rate = 0.1 if self._seen < 30 else 0.02
            self.sigma = (mean_abs + rate * (d2 - mean_abs)) / _MEAN_ABS_D2
            self._seen += 1
            prev.pop(0)
        prev.append(x)
        return self.sigma

    def restart(self) -> None:
        """A gap in the samples: differences across it would measure motion, not noise."""
        self._prev = []

    def snapshot(self) -> dict[str, Any]:
        return {"sigma": self.sigma, "seen": self._seen, "prev": list(self._prev)}

    def restore(self, state: Mapping[str, Any]) -> None:
        prev = _state.reals(state, "prev", 2)
        sigma, seen = _state.real(state, "sigma"), _state.count(state, "seen")
        self.sigma, self._seen, self._prev = sigma, seen, prev


class DrivingSignal:
    """Raw driving angle in, the counter's angle out; see the module docstring."""

    __slots__ = ("params", "noise", "_window", "_times", "_filter", "_samples", "_raw", "_raw_t")

    def __init__(self, params: OneEuroParams | None = None) -> None:
        self.params = params or OneEuroParams()
        self.noise = NoiseEstimate()
        self._window: deque[float] = deque(maxlen=MEDIAN)
        self._times: deque[float] = deque(maxlen=MEDIAN)
        self._filter = OneEuroFilter(1, self.params)
        self._samples: deque[float] = deque(maxlen=MAX_SAMPLES)
        self._raw: deque[float] = deque(maxlen=LOOK_BACK_SAMPLES)
        self._raw_t: deque[float] = deque(maxlen=LOOK_BACK_SAMPLES)

    @property
    def sigma(self) -> float:
        return self.noise.sigma

    def margins(self) -> tuple[float, float, float]:
        """(enter, exit) threshold margins in degrees and the confirmation time in ms a zone
        must hold before the counter believes it, for the measured noise."""
        s = self.noise.sigma
        return (
            min(ENTER_MARGIN_PER_SIGMA * s, MAX_ENTER_MARGIN),
            min(EXIT_MARGIN_PER_SIGMA * s, MAX_EXIT_MARGIN),
            min(CONFIRM_MS_PER_SIGMA * s, MAX_CONFIRM_MS),
        )

    def step(self, t_ms: float, raw: float) -> float:
        sigma = self.noise.step(raw)
        window = self._window
        window.append(raw)
        self._times.append(t_ms)
        # The median spans MEDIAN frames but at most MEDIAN_MS: at a low frame rate a longer
        # span would flatten the turning point of a quick rep.
        while len(window) > 3 and t_ms - self._times[0] > MEDIAN_MS:
            window.popleft()
            self._times.popleft()
        median = _median(window) if len(window) > 2 else raw
        self._samples.append(median)
        self._raw.append(raw)
        self._raw_t.append(t_ms)
        calm = 1.0 + (sigma / _SIGMA_REF) ** 2
        p = self.params
        self._filter.params = OneEuroParams(
            p.min_cutoff_hz / calm, p.beta / math.sqrt(calm), p.d_cutoff_hz
        )
        return float(self._filter.step(t_ms, np.array([median]))[0])

    def reset(self) -> None:
        """Tracking was lost: start the smoothing afresh (the noise estimate is the camera's
        and stays; the samples of the rep in progress stay for its range)."""
        self._window.clear()
        self._times.clear()
        self._filter.reset()
        self.noise.restart()

    def _smoothed(self) -> tuple[FloatArray, float]:
        """The samples since the last rep through a centred quadratic (Savitzky-Golay) fit
        whose width grows with the noise, and the standard deviation of its noise (degrees).
        A moving average would flatten a brief turning point by several degrees at the widths
        heavy noise calls for (understating the range, and cueing "move further" wrongly); a
        quadratic fit keeps the curvature of a turn and still averages the noise out."""
        samples = np.array(self._samples, dtype=np.float64)
        width = int(min(ROM_MAX_WIDTH, 1 + 2 * round(ROM_WIDTH_PER_SIGMA * self.noise.sigma)))
        width = max(1, min(width, len(samples) - (1 - len(samples) % 2)))
        kernel = _quadratic_kernel(width)
        smooth = np.convolve(samples, kernel, mode="valid") if width > 1 else samples
        # Each sample is a median of MEDIAN raw ones, which keeps about pi / 2 times the
        # variance of their mean: the fit's noise is that of the fit of those means.
        spread = np.convolve(kernel, np.ones(MEDIAN) / MEDIAN)
        return smooth, self.noise.sigma * math.sqrt(math.pi / 2 * float(spread @ spread))

    def turn_reached(self, since_ms: float, threshold: float, sign: float) -> bool:
        """Whether the raw samples since ``since_ms`` (those since the last counted rep only)
        went past ``threshold`` (``sign`` 1: upwards, -1: downwards) by more than their noise
        explains; see the module docstring."""
        t = np.fromiter(self._raw_t, dtype=np.float64, count=len(self._raw_t))
        x = sign * np.fromiter(self._raw, dtype=np.float64, count=len(self._raw))
        x = x[t >= since_ms]
        n = len(x)
        if n < TURN_WIDTHS[0]:
            return False
        sigma = self.noise.sigma
        if n >= OUTLIER_WIDTH:
            half = OUTLIER_WIDTH // 2
            padded = np.pad(x, half, mode="edge")
            windows = np.lib.stride_tricks.sliding_window_view(padded, OUTLIER_WIDTH)
            med = np.median(windows, 1)
            # The samples' own pace: at a quick turn the middle sample is rightly a few steps
            # from its window's median; a spike's two jumps are a minority of the steps.
            pace = np.median(np.abs(np.diff(windows, axis=1)), 1)
            allowed = OUTLIER_SIGMAS * sigma + OUTLIER_DEG + 2.0 * pace
            x = np.where(np.abs(x - med) > allowed, med, x)
        # Averages, not fits: an average never goes past the curve's own extreme, so however
        # a near miss is shaped (held, hovering), it is only noise that could carry it over.
        edge = sign * threshold
        total = np.concatenate(([0.0], np.cumsum(x)))
        for width in TURN_WIDTHS:
            if width > n:
                break
            best = float((total[width:] - total[:-width]).max()) / width
            # The more windows there are to look through, the further the likeliest of them
            # strays on noise alone (about sqrt(2 ln k) deviations for k windows): a near miss
            # hovering for seconds gets no more chances to count than a quick one.
            z = TURN_Z + math.sqrt(2.0 * math.log(max(n / width, 1.0)))
            if best - z * sigma / math.sqrt(width) >= edge:
                return True
        return False

    def rom(self) -> tuple[float, float]:
        """Range of motion of the samples since the last call, and its standard uncertainty
        (degrees); the samples are then forgotten."""
        if len(self._samples) < 2:
            self._forget_rep()
            return 0.0, 0.0
        smooth, residual = self._smoothed()
        self._forget_rep()
        # The highest and lowest of a few noisy values overshoot the true extremes (by about
        # half a residual sigma each once smoothed this much): take that out rather than report
        # noise as movement.
        rom = max(0.0, float(smooth.max() - smooth.min()) - residual)
        return rom, math.sqrt(2.0) * residual

    def _forget_rep(self) -> None:
        """What was kept of the rep just measured: the next one starts from nothing."""
        self._samples.clear()
        self._raw.clear()
        self._raw_t.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "noise": self.noise.snapshot(),
            "window": list(self._window),
            "times": list(self._times),
            "filter": self._filter.snapshot(),
            "samples": list(self._samples),
            "raw": list(self._raw),
            "raw_t": list(self._raw_t),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        self.noise.restore(state["noise"])
        window = _state.reals(state, "window", MEDIAN)
        times = _state.reals(state, "times", MEDIAN)
        if len(times) != len(window):
            raise ValueError("snapshot fields 'window' and 'times' must be as long")
        self._window = deque(window, maxlen=MEDIAN)
        self._times = deque(times, maxlen=MEDIAN)
        self._filter.restore(state["filter"])
        self._samples = deque(_state.reals(state, "samples", MAX_SAMPLES), maxlen=MAX_SAMPLES)
        # Snapshots taken before the look back kept no raw samples: it then sees none.
        raw = _state.reals(state, "raw", LOOK_BACK_SAMPLES) if "raw" in state else []
        raw_t = _state.reals(state, "raw_t", LOOK_BACK_SAMPLES) if "raw_t" in state else []
        if len(raw) != len(raw_t):
            raise ValueError("snapshot fields 'raw' and 'raw_t' must be as long")
        self._raw = deque(raw, maxlen=LOOK_BACK_SAMPLES)
        self._raw_t = deque(raw_t, maxlen=LOOK_BACK_SAMPLES)


def _median(window: deque[float]) -> float:
    """The median of the newest odd number of samples. An even window's upper middle value is
    biased away from a low turning point (a flexion's), and at 15 fps the 4-sample window
    hid a two-frame turn entirely: the bench's own synthetic sets lost reps on it."""
    newest = list(window)[1 - len(window) % 2 :]
    return sorted(newest)[len(newest) // 2]


def _quadratic_kernel(width: int) -> FloatArray:
    """Savitzky-Golay weights of a centred quadratic fit over ``width`` (odd) samples."""
    m = (width - 1) // 2
    i = np.arange(-m, m + 1, dtype=np.float64)
    out: FloatArray = (3.0 * (3 * m * m + 3 * m - 1) - 15.0 * i * i) / (
        (2 * m - 1) * (2 * m + 1) * (2 * m + 3)
    )
    return out
