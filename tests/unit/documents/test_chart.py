"""The range-of-motion chart: plain SVG markup, the same for the same points."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pipelines.documents import RomPoint, RomSeries, rom_chart
from pipelines.documents._chart import MAX_SESSIONS

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 10, 1, 8, 0, tzinfo=UTC)


def _series(label: str, values: list[float], start: int = 0) -> RomSeries:
    week = timedelta(days=7)
    points = (RomPoint(T0 + week * (start + i), v) for i, v in enumerate(values))
    return RomSeries(label, tuple(points))


def test_no_points_draw_no_chart() -> None:
    assert rom_chart([], UTC) == ""
    assert rom_chart([RomSeries("Squat", ())], UTC) == ""


def test_one_line_per_exercise_with_a_point_per_session() -> None:
    svg = rom_chart([_series("Squat", [60, 70, 80]), _series("Raise", [20, 30], start=1)], UTC)
    root = ET.fromstring(svg)
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2
    assert len(lines[0].get("points", "").split()) == 3
    assert len(root.findall(f"{SVG}circle")) == 5
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "Squat" in texts and "Raise" in texts
    # y axis: 0 to the next multiple of 30 above the largest angle
    assert texts[:4] == ["0°", "30°", "60°", "90°"]


def test_the_later_session_is_drawn_higher_for_a_larger_angle() -> None:
    root = ET.fromstring(rom_chart([_series("Squat", [40, 90])], UTC))
    cy = [float(c.get("cy", "0")) for c in root.findall(f"{SVG}circle")]
    assert cy[1] < cy[0]  # SVG's y grows downwards


def test_a_single_session_is_a_point_without_a_line() -> None:
    root = ET.fromstring(rom_chart([_series("Squat", [75])], UTC))
    assert root.findall(f"{SVG}polyline") == []
    assert len(root.findall(f"{SVG}circle")) == 1


def test_labels_are_escaped_and_dates_are_local() -> None:
    svg = rom_chart([_series('<script>"x"</script>', [10, 20])], ZoneInfo("Pacific/Kiritimati"))
    assert "<script>" not in svg
    root = ET.fromstring(svg)  # still well-formed
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert '<script>"x"</script>' in texts
    assert "1/10" in texts and "8/10" in texts  # 08:00 UTC is 22:00 the same day at UTC+14


def test_only_the_last_sessions_are_kept_and_the_markup_is_stable() -> None:
    many = [_series("Squat", [float(i) for i in range(30)])]
    svg = rom_chart(many, UTC)
    assert svg == rom_chart(many, UTC)
    root = ET.fromstring(svg)
    assert len(root.findall(f"{SVG}circle")) == MAX_SESSIONS
    assert max(float(c.get("cy", "0")) for c in root.findall(f"{SVG}circle")) < 250


def test_angles_past_the_axis_stay_inside_the_plot() -> None:
    root = ET.fromstring(rom_chart([_series("Squat", [0, 179.9])], UTC))
    cys = [float(c.get("cy", "0")) for c in root.findall(f"{SVG}circle")]
    assert all(0 <= y <= 250 for y in cys)
    assert "180°" in [t.text for t in root.iter(f"{SVG}text")]
