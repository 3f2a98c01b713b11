"""Joint angles, trunk lean, knee valgus and the view ratio on hand-built geometry."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from pipelines.pose import Landmark, joint_angles
from pipelines.pose._angles import image_points, inclination
from pipelines.pose._form import frontal_plane, knee_valgus, trunk_lean
from pipelines.pose._view import shoulder_torso_ratio
from pipelines.pose._vocabulary import Side

HIP, KNEE, ANKLE = Landmark.LEFT_HIP, Landmark.LEFT_KNEE, Landmark.LEFT_ANKLE
TRIPLE = np.array([[HIP, KNEE, ANKLE]], dtype=np.intp)


def frame(points: dict[int, tuple[float, ...]], dims: int = 2) -> npt.NDArray[np.float64]:
    out = np.zeros((1, 33, dims))
    for index, xyz in points.items():
        out[0, index] = xyz
    return out


@pytest.mark.parametrize(
    ("ankle", "expected"),
    [((0.0, 2.0), 180.0), ((1.0, 1.0), 90.0), ((1.0, 2.0), 135.0), ((0.0, 0.0), 0.0)],
)
def test_angle_at_the_vertex_in_2d(ankle: tuple[float, float], expected: float) -> None:
    points = frame({HIP: (0.0, 0.0), KNEE: (0.0, 1.0), ANKLE: ankle})
    points[0, HIP] = (0.0, 0.0)
    if expected == 0.0:
        points[0, ANKLE] = (0.0, -1.0)
    assert joint_angles(points, TRIPLE)[0, 0] == pytest.approx(expected, abs=1e-9)


def test_angle_in_3d() -> None:
    points = frame({HIP: (0.0, 0.0, 1.0), KNEE: (0.0, 0.0, 0.0), ANKLE: (1.0, 1.0, 0.0)}, dims=3)
    assert joint_angles(points, TRIPLE)[0, 0] == pytest.approx(90.0)


def test_aspect_ratio_restores_a_right_angle_from_normalised_coordinates() -> None:
    # A right angle in a 16:9 image: 0.1 image heights along each arm.
    aspect = 16 / 9
    landmarks = np.zeros((1, 33, 4))
    landmarks[0, HIP, :2] = (0.5, 0.4)
    landmarks[0, KNEE, :2] = (0.5, 0.5)
    landmarks[0, ANKLE, :2] = (0.5 + 0.1 / aspect, 0.5)
    assert joint_angles(image_points(landmarks, aspect), TRIPLE)[0, 0] == pytest.approx(90.0)
    unscaled = joint_angles(image_points(landmarks, 1.0), TRIPLE)[0, 0]
    assert unscaled == pytest.approx(90.0)  # still right: arms are axis-aligned
    landmarks[0, ANKLE, :2] = (0.5 + 0.1 / aspect, 0.6)  # 135 degrees in pixels
    assert joint_angles(image_points(landmarks, aspect), TRIPLE)[0, 0] == pytest.approx(135.0)
    assert joint_angles(image_points(landmarks, 1.0), TRIPLE)[0, 0] != pytest.approx(135.0, abs=5)


def test_a_vanished_segment_gives_nan_not_an_angle() -> None:
    points = frame({HIP: (0.0, 1.0), KNEE: (0.0, 1.0), ANKLE: (1.0, 1.0)})
    assert np.isnan(joint_angles(points, TRIPLE)[0, 0])


def test_inclination_from_vertical_in_image_and_world_axes() -> None:
    assert inclination(np.array([[0.0, -1.0]]))[0] == pytest.approx(0.0)
    assert inclination(np.array([[1.0, -1.0]]))[0] == pytest.approx(45.0)
    assert inclination(np.array([[0.0, -2.0, 2.0]]))[0] == pytest.approx(45.0)


def torso(shoulder_dx: float, lean_deg: float = 0.0) -> npt.NDArray[np.float64]:
    """Image points of a torso 0.5 tall; shoulders +-shoulder_dx apart from the midline."""
    lean = np.radians(lean_deg)
    top = np.array([0.5 + 0.5 * np.sin(lean), 0.5 - 0.5 * np.cos(lean)])
    return frame(
        {
            Landmark.LEFT_HIP: (0.55, 0.5),
            Landmark.RIGHT_HIP: (0.45, 0.5),
            Landmark.LEFT_SHOULDER: tuple(top + (shoulder_dx, 0.0)),
            Landmark.RIGHT_SHOULDER: tuple(top - (shoulder_dx, 0.0)),
        }
    )


def test_trunk_lean_is_the_angle_from_vertical() -> None:
    assert trunk_lean(torso(0.18))[0] == pytest.approx(0.0, abs=1e-9)
    assert trunk_lean(torso(0.0, 30.0))[0] == pytest.approx(30.0)


def test_view_ratio_tells_front_from_side() -> None:
    visible = np.ones((1, 33), dtype=bool)
    # Torso length is shoulder-to-hip on each side; the hips are 0.1 apart.
    front = 0.36 / np.hypot(0.13, 0.5)
    assert shoulder_torso_ratio(torso(0.18), visible)[0] == pytest.approx(front)
    assert shoulder_torso_ratio(torso(0.01), visible)[0] == pytest.approx(
        0.02 / np.hypot(0.04, 0.5)
    )
    one_shoulder = visible.copy()
    one_shoulder[0, Landmark.RIGHT_SHOULDER] = False
    assert shoulder_torso_ratio(torso(0.18), one_shoulder)[0] == 0.0  # the far one is hidden
    assert np.isnan(shoulder_torso_ratio(torso(0.18), np.zeros((1, 33), dtype=bool))[0])


def legs(knee_shift: float, dims: int = 2) -> npt.NDArray[np.float64]:
    """Front view, person facing the camera (their left on image right); the left knee moves
    ``knee_shift`` towards the midline."""
    pts: dict[int, tuple[float, ...]] = {
        Landmark.LEFT_HIP: (0.6, 0.5),
        Landmark.RIGHT_HIP: (0.4, 0.5),
        Landmark.LEFT_KNEE: (0.6 - knee_shift, 0.7),
        Landmark.LEFT_ANKLE: (0.6, 0.9),
    }
    if dims == 3:
        # World axes: y down; depth varies along the leg, which the frontal plane ignores.
        pts = {k: (x, y, 0.3 * y) for k, (x, y) in pts.items()}
    return frame(pts, dims)


def test_knee_valgus_is_positive_inwards_and_negative_outwards() -> None:
    inward = knee_valgus(frontal_plane(legs(0.05)), Side.LEFT)[0]
    assert inward == pytest.approx(2 * np.degrees(np.arctan(0.05 / 0.2)))
    assert knee_valgus(frontal_plane(legs(-0.05)), Side.LEFT)[0] == pytest.approx(-inward)
    assert knee_valgus(frontal_plane(legs(0.0)), Side.LEFT)[0] == pytest.approx(0.0, abs=1e-9)


def test_knee_valgus_from_world_landmarks_ignores_depth() -> None:
    assert knee_valgus(frontal_plane(legs(0.05, dims=3)), Side.LEFT)[0] == pytest.approx(
        2 * np.degrees(np.arctan(0.05 / 0.2))
    )
