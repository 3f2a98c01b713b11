"""The One-Euro filter (Casiez, Roussel, Vogel, CHI 2012), vectorised over channels.

A low-pass filter whose cutoff rises with the signal's speed: still joints are smoothed hard
(``min_cutoff``), moving ones follow with little lag (``beta``). Time comes from the frames'
own timestamps, so dropped frames and uneven rates need no special case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._angles import FloatArray

_TWO_PI = 2.0 * math.pi


@dataclass(frozen=True, slots=True)
class OneEuroParams:
    """``min_cutoff_hz``: cutoff when still; ``beta``: cutoff gain per unit/s of speed (here
    Hz per degree/s); ``d_cutoff_hz``: cutoff of the speed estimate itself."""

    min_cutoff_hz: float = 1.0
    beta: float = 0.2
    d_cutoff_hz: float = 1.0

    def __post_init__(self) -> None:
        if not (self.min_cutoff_hz > 0 and self.d_cutoff_hz > 0 and self.beta >= 0):
            raise ValueError("One-Euro cutoffs must be positive and beta non-negative")


class OneEuroFilter:
    """Filters K channels at once. A NaN sample leaves its channel untouched and outputs NaN;
    the channel then restarts from its next finite sample only if ``reset`` was called, else it
    continues from where it stopped."""

    # State is kept in Python lists and stepped with float arithmetic: K is 1-5 channels and a
    # worker steps it once per frame, where a dozen numpy calls on tiny arrays cost ten times
    # the arithmetic. Same IEEE-754 double operations as the vectorised formula, same results.
    __slots__ = ("params", "channels", "_x", "_dx", "_t", "_live")

    def __init__(self, channels: int, params: OneEuroParams | None = None) -> None:
        self.params = params or OneEuroParams()
        self.channels = channels
        self._x = [0.0] * channels
        self._dx = [0.0] * channels
        self._t = [0.0] * channels
        self._live = [False] * channels

    def reset(self) -> None:
        """Forget the past: the next finite sample of each channel passes through unchanged."""
        self._live = [False] * self.channels

    def step(self, t_ms: float, x: FloatArray) -> FloatArray:
        """Filter one frame at ``t_ms`` (strictly after the channel's previous sample)."""
        p = self.params
        out = [math.nan] * self.channels
        for k, sample in enumerate(x.tolist()):
            if not math.isfinite(sample):
                continue
            te = (t_ms - self._t[k]) * 1e-3
            if self._live[k] and te > 0.0:
                prev, dprev = self._x[k], self._dx[k]
                dx_hat = dprev + _alpha_1(te, p.d_cutoff_hz) * ((sample - prev) / te - dprev)
                cutoff = p.min_cutoff_hz + p.beta * abs(dx_hat)
                self._x[k] = prev + _alpha_1(te, cutoff) * (sample - prev)
                self._dx[k] = dx_hat
            elif not self._live[k]:
                self._x[k], self._dx[k] = sample, 0.0
            self._t[k], self._live[k] = t_ms, True
            out[k] = self._x[k]
        return np.array(out)

    def filter(self, t_ms: FloatArray, x: FloatArray) -> FloatArray:
        """Filter a batch: (N,) timestamps, (N, K) samples -> (N, K)."""
        out = np.empty((len(t_ms), self.channels))
        for i in range(len(t_ms)):
            out[i] = self.step(float(t_ms[i]), x[i])
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "x": list(self._x),
            "dx": list(self._dx),
            "t": list(self._t),
            "live": list(self._live),
        }

    def restore(self, state: dict[str, Any]) -> None:
        arrays = [np.array(state[key], dtype=np.float64) for key in ("x", "dx", "t")]
        flags = state["live"]
        if (
            any(a.shape != (self.channels,) or not np.all(np.isfinite(a)) for a in arrays)
            or not isinstance(flags, list)
            or len(flags) != self.channels
            or not all(isinstance(flag, bool) for flag in flags)
        ):
            raise ValueError("filter state does not match the filter's channels")
        self._x, self._dx, self._t = (a.tolist() for a in arrays)
        self._live = list(flags)


def _alpha_1(te_s: float, cutoff_hz: float) -> float:
    # Smoothing factor of a first-order low-pass with time constant 1 / (2 pi fc).
    return 1.0 / (1.0 + 1.0 / (_TWO_PI * cutoff_hz * te_s))
