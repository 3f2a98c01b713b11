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


def _alpha(te_s: FloatArray, cutoff_hz: FloatArray | float) -> FloatArray:
    # Smoothing factor of a first-order low-pass with time constant 1 / (2 pi fc).
    return 1.0 / (1.0 + 1.0 / (_TWO_PI * cutoff_hz * te_s))


class OneEuroFilter:
    """Filters K channels at once. A NaN sample leaves its channel untouched and outputs NaN;
    the channel then restarts from its next finite sample only if ``reset`` was called, else it
    continues from where it stopped."""

    __slots__ = ("params", "channels", "_x", "_dx", "_t", "_live")

    def __init__(self, channels: int, params: OneEuroParams | None = None) -> None:
        self.params = params or OneEuroParams()
        self.channels = channels
        self._x = np.zeros(channels)
        self._dx = np.zeros(channels)
        self._t = np.zeros(channels)
        self._live = np.zeros(channels, dtype=bool)

    def reset(self) -> None:
        """Forget the past: the next finite sample of each channel passes through unchanged."""
        self._live[:] = False

    def step(self, t_ms: float, x: FloatArray) -> FloatArray:
        """Filter one frame at ``t_ms`` (strictly after the channel's previous sample)."""
        p = self.params
        valid = np.isfinite(x)
        update = valid & self._live
        sample = np.where(valid, x, self._x)
        te = np.where(update, (t_ms - self._t) * 1e-3, 1.0)
        dx = (sample - self._x) / te
        dx_hat = self._dx + _alpha(te, p.d_cutoff_hz) * (dx - self._dx)
        cutoff = p.min_cutoff_hz + p.beta * np.abs(dx_hat)
        x_hat = self._x + _alpha(te, cutoff) * (sample - self._x)
        fresh = valid & ~self._live
        self._x = np.where(update, x_hat, np.where(fresh, sample, self._x))
        self._dx = np.where(update, dx_hat, np.where(fresh, 0.0, self._dx))
        self._t = np.where(valid, t_ms, self._t)
        self._live = self._live | valid
        return np.where(valid, self._x, np.nan)

    def filter(self, t_ms: FloatArray, x: FloatArray) -> FloatArray:
        """Filter a batch: (N,) timestamps, (N, K) samples -> (N, K)."""
        out = np.empty((len(t_ms), self.channels))
        for i in range(len(t_ms)):
            out[i] = self.step(float(t_ms[i]), x[i])
        return out

    def snapshot(self) -> dict[str, Any]:
        return {
            "x": self._x.tolist(),
            "dx": self._dx.tolist(),
            "t": self._t.tolist(),
            "live": self._live.tolist(),
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
        live = np.array(flags, dtype=bool)
        self._x, self._dx, self._t = arrays
        self._live = live
