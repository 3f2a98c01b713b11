"""The range-of-motion chart of the session report: an SVG line chart drawn here, in plain
Python, so a PDF needs no plotting library and the same points always give the same markup.

Sessions are spaced evenly along x (their dates label the axis), angles go up y from 0 to the
next multiple of 30 degrees above the largest point (at most 180); one line per exercise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, tzinfo
from html import escape

from pipelines.documents._model import RomSeries

# Distinct in colour and in grey (printed handouts are often black and white): dash patterns
# tell the lines apart where the colours do not.
_PALETTE = ("#1f6fb2", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#5c940d")
_DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "4 4")
MAX_SESSIONS = 12


def _num(value: float) -> str:
    """A coordinate with at most two decimals, without trailing zeros: stable, short markup."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def rom_chart(
    series: Sequence[RomSeries], zone: tzinfo, *, width: int = 640, height: int = 250
) -> str:
    """SVG markup of the chart (empty when no series has a point). Each series keeps its last
    `MAX_SESSIONS` points; x positions are the distinct session instants of all series."""
    kept = [RomSeries(s.label, s.points[-MAX_SESSIONS:]) for s in series if s.points]
    if not kept:
        return ""
    instants: list[datetime] = sorted({p.at for s in kept for p in s.points})[-MAX_SESSIONS:]
    column = {at: i for i, at in enumerate(instants)}
    top = max(p.degrees for s in kept for p in s.points)
    y_max = min(180, max(30, math.ceil(top / 30) * 30))
    left, right, upper, lower = 44, 16, 14, 34
    legend_h = 18 * ((len(kept) + 2) // 3)
    plot_w, plot_h = width - left - right, height - upper - lower - legend_h
    step = plot_w / max(1, len(instants) - 1)

    def x(at: datetime) -> float:
        return left + (plot_w / 2 if len(instants) == 1 else column[at] * step)

    def y(degrees: float) -> float:
        return upper + plot_h - max(0.0, min(degrees, y_max)) / y_max * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, sans-serif" font-size="10" '
        'role="img" aria-label="Range of motion over past sessions">'
    ]
    for tick in range(0, y_max + 1, 30):
        ty = _num(y(tick))
        out.append(
            f'<line x1="{left}" y1="{ty}" x2="{left + plot_w}" y2="{ty}" '
            f'stroke="#d0d4d9" stroke-width="{1 if tick else 1.5}"/>'
            f'<text x="{left - 6}" y="{_num(y(tick) + 3.5)}" text-anchor="end" '
            f'fill="#444">{tick}°</text>'
        )
    label_every = max(1, math.ceil(len(instants) / 8))  # at most ~8 date labels fit
    for i, at in enumerate(instants):
        if i % label_every and i != len(instants) - 1:
            continue
        local = at.astimezone(zone)
        out.append(
            f'<text x="{_num(x(at))}" y="{upper + plot_h + 14}" text-anchor="middle" '
            f'fill="#444">{local.day}/{local.month}</text>'
        )
    for n, s in enumerate(kept):
        colour, dash = _PALETTE[n % len(_PALETTE)], _DASHES[n % len(_DASHES)]
        points = [p for p in s.points if p.at in column]
        coords = " ".join(f"{_num(x(p.at))},{_num(y(p.degrees))}" for p in points)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        if len(points) > 1:
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" '
                f'stroke-width="2"{dashed}/>'
            )
        out.extend(
            f'<circle cx="{_num(x(p.at))}" cy="{_num(y(p.degrees))}" r="3" fill="{colour}"/>'
            for p in points
        )
        lx = left + (n % 3) * (plot_w / 3)
        ly = height - legend_h + 18 * (n // 3) + 4
        out.append(
            f'<line x1="{_num(lx)}" y1="{ly}" x2="{_num(lx + 18)}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{dashed}/>'
            f'<text x="{_num(lx + 24)}" y="{ly + 3.5}" fill="#222">{escape(s.label[:40])}</text>'
        )
    out.append("</svg>")
    return "".join(out)
