"""Joint angles from landmark arrays, vectorised over frames.

MediaPipe's image landmarks have x normalised to the image width and y to its height, so x is
scaled by the aspect ratio (width / height) before any angle is taken: both axes then share one
unit (image heights) and a right angle stays a right angle. World landmarks are metres already.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ._kinematics import AngleSpec

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

_EPS = 1e-9
UP_2D = np.array([0.0, -1.0])  # image y grows downwards
UP_3D = np.array([0.0, -1.0, 0.0])  # MediaPipe world landmarks follow the image axes


def image_points(landmarks: FloatArray, aspect_ratio: float) -> FloatArray:
    """(N, 33, 2) isotropic image coordinates from (N, 33, >=2) normalised landmarks."""
    points = np.array(landmarks[..., :2], dtype=np.float64)
    points[..., 0] *= aspect_ratio
    return points


def world_points(world_landmarks: FloatArray) -> FloatArray:
    """(N, 33, 3) metric coordinates from (N, 33, >=3) world landmarks."""
    return np.asarray(world_landmarks[..., :3], dtype=np.float64)


def angle_between(u: FloatArray, v: FloatArray) -> FloatArray:
    """Angle in degrees [0, 180] between vectors along the last axis (2-D or 3-D); NaN where
    either vector has no length. ``atan2(|u x v|, u . v)`` stays accurate near 0 and 180.
    ``v`` may be one vector, broadcast against ``u``."""
    # Written as plain ufunc arithmetic: a worker calls this for one to a few frames at a time,
    # where np.sum / np.linalg.norm cost more in Python dispatch than in arithmetic.
    if u.shape[-1] == 2:
        ux, uy, vx, vy = u[..., 0], u[..., 1], v[..., 0], v[..., 1]
        dot = ux * vx + uy * vy
        cross = np.abs(ux * vy - uy * vx)
        uu = ux * ux + uy * uy
        vv = vx * vx + vy * vy
    else:
        dot = np.einsum("...d,...d->...", u, v)
        c = np.cross(u, v)
        cross = np.sqrt(np.einsum("...d,...d->...", c, c))
        uu = np.einsum("...d,...d->...", u, u)
        vv = np.einsum("...d,...d->...", v, v)
    angle = np.degrees(np.arctan2(cross, dot))
    degenerate = (uu < _EPS * _EPS) | (vv < _EPS * _EPS)
    return np.where(degenerate, np.nan, angle)


def joint_angles(points: FloatArray, triples: IntArray) -> FloatArray:
    """(N, K) angles at each triple's vertex, for (N, 33, D) points and (K, 3) index triples."""
    a = points[:, triples[:, 0]]
    vertex = points[:, triples[:, 1]]
    c = points[:, triples[:, 2]]
    return angle_between(a - vertex, c - vertex)


def inclination(vectors: FloatArray) -> FloatArray:
    """Angle in degrees between each vector and straight up (2-D image or 3-D world)."""
    up = UP_2D if vectors.shape[-1] == 2 else UP_3D
    return angle_between(vectors, up)


class AngleMeasure:
    """One ``AngleSpec`` resolved to index triples: one column per measured side."""

    __slots__ = ("spec", "triples", "landmarks")

    def __init__(self, spec: AngleSpec) -> None:
        self.spec = spec
        self.triples: IntArray = np.array(spec.triples(), dtype=np.intp)
        self.landmarks: IntArray = np.unique(self.triples)

    def per_side(self, points: FloatArray) -> FloatArray:
        """(N, S) angles, S = 1, or 2 (left, right) for side ``both``."""
        return joint_angles(points, self.triples)

    def mean(self, points: FloatArray) -> FloatArray:
        """(N,) the sides' mean angle (the same value as ``per_side(points).mean(axis=1)``,
        without ndarray.mean's dispatch cost on one-frame batches)."""
        sides = self.per_side(points)
        if sides.shape[1] == 1:
            return sides[:, 0]
        return (sides[:, 0] + sides[:, 1]) / 2.0 if sides.shape[1] == 2 else sides.mean(axis=1)
