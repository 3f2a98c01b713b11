"""A synthetic body for tests and benchmarks: fixed segment lengths, MediaPipe's landmark layout,
and an orthographic camera.

Body coordinates are metres with X towards the person's left, Y up, Z the way they face. The
exercise motions (``_motions.py``) place the joint centres; ``complete`` adds the face, hands
and nothing else; ``render`` looks at the body from the side or the front.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._angles import FloatArray
from ._landmarks import NUM_LANDMARKS
from ._landmarks import Landmark as L
from ._vocabulary import CameraView


@dataclass(frozen=True, slots=True)
class Body:
    hip_half: float = 0.13  # MediaPipe's hip landmarks sit wider than the joint centres
    shoulder_half: float = 0.18
    torso: float = 0.52  # mid-hip to mid-shoulder
    thigh: float = 0.45
    shank: float = 0.43
    ankle_height: float = 0.08
    upper_arm: float = 0.30
    forearm: float = 0.26
    hand: float = 0.09
    neck: float = 0.24  # mid-shoulder to the centre of the head


BODY = Body()
HEEL = np.array([0.0, -0.07, -0.05])  # from the ankle, foot flat
TOE = np.array([0.0, -0.065, 0.15])
SCALE = 0.42  # image heights per metre: a standing adult fills about 3/4 of the frame


def empty(n: int) -> FloatArray:
    return np.zeros((n, NUM_LANDMARKS, 3))


def sagittal(angle_deg: FloatArray | float) -> FloatArray:
    """Unit vectors in the Y-Z plane, ``angle_deg`` from up towards forward (180 = down)."""
    a = np.radians(np.atleast_1d(np.asarray(angle_deg, dtype=np.float64)))
    return np.stack([np.zeros_like(a), np.cos(a), np.sin(a)], axis=-1)


def frontal(angle_deg: FloatArray | float, side: float) -> FloatArray:
    """Unit vectors in the X-Y plane, ``angle_deg`` from up towards the ``side`` (+1 left)."""
    a = np.radians(np.atleast_1d(np.asarray(angle_deg, dtype=np.float64)))
    return np.stack([side * np.sin(a), np.cos(a), np.zeros_like(a)], axis=-1)


def at(x: float, y: float, z: float) -> FloatArray:
    return np.array([x, y, z])


def flat_feet(pose: FloatArray) -> None:
    for ankle, heel, toe in (
        (L.LEFT_ANKLE, L.LEFT_HEEL, L.LEFT_FOOT_INDEX),
        (L.RIGHT_ANKLE, L.RIGHT_HEEL, L.RIGHT_FOOT_INDEX),
    ):
        pose[:, heel] = pose[:, ankle] + HEEL
        pose[:, toe] = pose[:, ankle] + TOE


def _unit(v: FloatArray) -> FloatArray:
    n: FloatArray = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return n


def complete(pose: FloatArray) -> FloatArray:
    """Adds the face (0-10) and hands (17-22) to a pose whose joints are placed."""
    mid_sh = (pose[:, L.LEFT_SHOULDER] + pose[:, L.RIGHT_SHOULDER]) / 2
    mid_hip = (pose[:, L.LEFT_HIP] + pose[:, L.RIGHT_HIP]) / 2
    up = _unit(mid_sh - mid_hip)
    lat = pose[:, L.LEFT_SHOULDER] - pose[:, L.RIGHT_SHOULDER]
    lat = _unit(lat - np.sum(lat * up, axis=-1, keepdims=True) * up)
    fwd = np.cross(lat, up)
    head = mid_sh + BODY.neck * up

    def face(u: float, f: float, s: float) -> FloatArray:
        point: FloatArray = head + u * up + f * fwd + s * lat
        return point

    pose[:, L.NOSE] = face(0.0, 0.10, 0.0)
    for s, (inner, eye, outer, ear, mouth) in (
        (1.0, (L.LEFT_EYE_INNER, L.LEFT_EYE, L.LEFT_EYE_OUTER, L.LEFT_EAR, L.MOUTH_LEFT)),
        (-1.0, (L.RIGHT_EYE_INNER, L.RIGHT_EYE, L.RIGHT_EYE_OUTER, L.RIGHT_EAR, L.MOUTH_RIGHT)),
    ):
        pose[:, inner] = face(0.035, 0.085, 0.015 * s)
        pose[:, eye] = face(0.035, 0.08, 0.032 * s)
        pose[:, outer] = face(0.035, 0.07, 0.048 * s)
        pose[:, ear] = face(0.01, 0.0, 0.075 * s)
        pose[:, mouth] = face(-0.045, 0.08, 0.025 * s)
    for s, (elbow, wrist, pinky, index, thumb) in (
        (1.0, (L.LEFT_ELBOW, L.LEFT_WRIST, L.LEFT_PINKY, L.LEFT_INDEX, L.LEFT_THUMB)),
        (-1.0, (L.RIGHT_ELBOW, L.RIGHT_WRIST, L.RIGHT_PINKY, L.RIGHT_INDEX, L.RIGHT_THUMB)),
    ):
        along = _unit(pose[:, wrist] - pose[:, elbow])
        pose[:, index] = pose[:, wrist] + BODY.hand * along
        pose[:, pinky] = pose[:, wrist] + 0.8 * BODY.hand * along + 0.02 * s * lat
        pose[:, thumb] = pose[:, wrist] + 0.5 * BODY.hand * along + 0.03 * fwd
    return pose


@dataclass(frozen=True, slots=True)
class Camera:
    """An orthographic camera: image right, image down and depth (away from the camera)."""

    right: FloatArray
    down: FloatArray
    depth: FloatArray

    @classmethod
    def looking_at(cls, view: CameraView, yaw_deg: float = 0.0) -> Camera:
        # Side: the camera stands at the person's left; front: in front of them. Yaw turns the
        # person (equivalently the camera) about the vertical.
        base = 90.0 if view is CameraView.SIDE else 0.0
        a = np.radians(base + yaw_deg)
        position = np.array([np.sin(a), 0.0, np.cos(a)])  # unit vector towards the camera
        down = np.array([0.0, -1.0, 0.0])
        depth = -position
        right = np.cross(depth, -down)
        return cls(right, down, depth)

    def project(self, pose: FloatArray) -> FloatArray:
        """(N, 33, 3) camera-frame metres: image right, image down, depth."""
        return np.stack([pose @ self.right, pose @ self.down, pose @ self.depth], axis=-1)


def render(
    pose: FloatArray, camera: Camera, aspect_ratio: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MediaPipe-style outputs of an (N, 33, 3) pose: normalised image landmarks (x, y, z), world
    landmarks (metres, origin at mid-hip, image axes) and isotropic image-metre points (u, v)."""
    cam = camera.project(pose)
    hips = (cam[:, L.LEFT_HIP] + cam[:, L.RIGHT_HIP])[:, None, :] / 2
    centre = cam.reshape(-1, 3).mean(axis=0)
    image = np.empty_like(cam)
    image[..., 0] = 0.5 + (cam[..., 0] - centre[0]) * SCALE / aspect_ratio
    image[..., 1] = 0.5 + (cam[..., 1] - centre[1]) * SCALE
    image[..., 2] = (cam[..., 2] - hips[..., 2]) * SCALE / aspect_ratio
    return image, cam - hips, cam[..., :2]
