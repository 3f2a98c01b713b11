"""A 3-D stick body driven by one joint angle, and an orthographic camera at any yaw.

Metres, X towards the person's left, Y DOWN (as images are), Z the way they face; the floor is
at y = 0. Each exercise's pose puts its driving angle exactly at the scripted value in the plane
the exercise is meant to be filmed in. Written apart from ``pipelines/pose/_synthetic.py`` (its
own segment lengths, pose formulas and camera), so that the evaluation shares no geometry with
the unit tests.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

F = npt.NDArray[np.float64]

N_LM = 33
SHANK, THIGH, TORSO, UPPER_ARM, FOREARM, NECK = 0.44, 0.46, 0.54, 0.31, 0.27, 0.25
HIP_HALF, SHOULDER_HALF, ANKLE_Y = 0.12, 0.19, -0.08
PIXELS_PER_M = 0.40  # image heights per metre

# MediaPipe's indices, left then right (the person's own left).
SHOULDER, ELBOW, WRIST, HIP, KNEE, ANKLE, HEEL, TOE = (11, 13, 15, 23, 25, 27, 29, 31)
PINKY, INDEX, THUMB = 17, 19, 21
LEFT_INDICES = (1, 2, 3, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
RIGHT_INDICES = (4, 5, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32)


def _up(angle_deg: F) -> F:
    """Unit vectors leaning ``angle_deg`` forward (+Z) from straight up."""
    a = np.radians(angle_deg)
    return np.stack([np.zeros_like(a), -np.cos(a), np.sin(a)], axis=-1)


def _down(angle_deg: F) -> F:
    """Unit vectors swung ``angle_deg`` forward from straight down."""
    a = np.radians(angle_deg)
    return np.stack([np.zeros_like(a), np.cos(a), np.sin(a)], axis=-1)


def _vec(x: float, y: float, z: float, n: int) -> F:
    return np.tile(np.array([x, y, z]), (n, 1))


def _standing(n: int) -> F:
    p = np.zeros((n, N_LM, 3))
    for s, off in ((1.0, 0), (-1.0, 1)):
        p[:, ANKLE + off] = _vec(s * HIP_HALF, ANKLE_Y, 0.0, n)
        p[:, KNEE + off] = p[:, ANKLE + off] + _vec(0, -SHANK, 0, n)
        p[:, HIP + off] = p[:, KNEE + off] + _vec(0, -THIGH, 0, n)
    _trunk(p, np.zeros(n))
    for off in (0, 1):
        _arm(p, off, np.full(n, 8.0), np.full(n, 170.0))
    return p


def _trunk(p: F, lean_deg: F) -> None:
    mid_hip = (p[:, HIP] + p[:, HIP + 1]) / 2
    mid_sh = mid_hip + TORSO * _up(lean_deg)
    p[:, SHOULDER] = mid_sh + np.array([SHOULDER_HALF, 0, 0])
    p[:, SHOULDER + 1] = mid_sh - np.array([SHOULDER_HALF, 0, 0])


def _arm(p: F, off: int, upper_fwd_deg: F, elbow_deg: F) -> None:
    """Upper arm swung forward from down; the elbow bends the forearm further forward."""
    p[:, ELBOW + off] = p[:, SHOULDER + off] + UPPER_ARM * _down(upper_fwd_deg)
    p[:, WRIST + off] = p[:, ELBOW + off] + FOREARM * _down(upper_fwd_deg + 180.0 - elbow_deg)


def _finish(p: F) -> F:
    """Face, hands and feet from the placed joints."""
    mid_sh = (p[:, SHOULDER] + p[:, SHOULDER + 1]) / 2
    mid_hip = (p[:, HIP] + p[:, HIP + 1]) / 2
    up = mid_sh - mid_hip
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    head = mid_sh + NECK * up
    fwd = np.array([0.0, 0.0, 1.0])
    p[:, 0] = head + 0.11 * fwd
    for s, (inner, eye, outer, ear, mouth) in ((1.0, (1, 2, 3, 7, 9)), (-1.0, (4, 5, 6, 8, 10))):
        lat = np.array([s, 0.0, 0.0])
        p[:, inner] = head + 0.09 * fwd + 0.015 * lat - 0.03 * up
        p[:, eye] = head + 0.085 * fwd + 0.033 * lat - 0.03 * up
        p[:, outer] = head + 0.075 * fwd + 0.05 * lat - 0.03 * up
        p[:, ear] = head + 0.078 * lat - 0.01 * up
        p[:, mouth] = head + 0.085 * fwd + 0.024 * lat + 0.05 * up
    for off in (0, 1):
        along = p[:, WRIST + off] - p[:, ELBOW + off]
        along /= np.linalg.norm(along, axis=-1, keepdims=True)
        p[:, INDEX + off] = p[:, WRIST + off] + 0.085 * along
        p[:, PINKY + off] = p[:, WRIST + off] + 0.07 * along
        p[:, THUMB + off] = p[:, WRIST + off] + 0.045 * along + 0.025 * fwd
        p[:, HEEL + off] = p[:, ANKLE + off] + np.array([0.0, 0.06, -0.055])
        p[:, TOE + off] = p[:, ANKLE + off] + np.array([0.0, 0.07, 0.16])
    return p


def squat(theta: F) -> F:
    n = len(theta)
    p = _standing(n)
    flex = 180.0 - theta
    shank = 0.40 * flex  # the knees travel forward as they bend
    for s, off in ((1.0, 0), (-1.0, 1)):
        p[:, ANKLE + off] = _vec(s * HIP_HALF, ANKLE_Y, 0.0, n)
        p[:, KNEE + off] = p[:, ANKLE + off] + SHANK * _up(shank)
        p[:, HIP + off] = p[:, KNEE + off] + THIGH * _up(shank - flex)
    _trunk(p, 0.48 * flex)
    for off in (0, 1):
        _arm(p, off, np.full(n, 85.0), np.full(n, 172.0))  # arms reach forward
    return _finish(p)


def biceps_curl(theta: F) -> F:
    p = _standing(len(theta))
    _arm(p, 0, np.full(len(theta), 4.0), theta)
    _arm(p, 1, np.full(len(theta), 4.0), np.full(len(theta), 166.0))
    return _finish(p)


def shoulder_flexion(theta: F) -> F:
    p = _standing(len(theta))
    _arm(p, 0, theta, np.full(len(theta), 174.0))
    _arm(p, 1, np.full(len(theta), 12.0), np.full(len(theta), 170.0))
    return _finish(p)


def hip_abduction(theta: F) -> F:
    p = _standing(len(theta))
    hip, shoulder = p[:, HIP], p[:, SHOULDER]
    to_sh = shoulder - hip
    beta = np.degrees(np.arctan2(to_sh[:, 0], -to_sh[:, 1]))  # trunk line, lateral of up
    alpha = np.radians(180.0 - theta - beta)  # the leg, lateral of down
    leg = np.stack([np.sin(alpha), np.cos(alpha), np.zeros_like(alpha)], axis=-1)
    p[:, KNEE] = hip + THIGH * leg
    p[:, ANKLE] = hip + (THIGH + SHANK) * leg
    for off in (0, 1):  # arms hang a little away from the sides
        s = 1.0 if off == 0 else -1.0
        p[:, ELBOW + off] = p[:, SHOULDER + off] + UPPER_ARM * np.array([0.17 * s, 0.985, 0.0])
        p[:, WRIST + off] = p[:, ELBOW + off] + FOREARM * np.array([0.1 * s, 0.995, 0.0])
    return _finish(p)


POSES: dict[str, Callable[[F], F]] = {
    "squat": squat,
    "biceps_curl": biceps_curl,
    "shoulder_flexion": shoulder_flexion,
    "standing_hip_abduction": hip_abduction,
}


def project(pose: F, yaw_deg: float, aspect: float, scale: float = PIXELS_PER_M,
            y0: float = 0.93) -> tuple[F, F, F]:  # fmt: skip
    """Normalised image landmarks (N, 33, 3: x, y, z) seen from ``yaw_deg`` (0: in front of the
    person, 90: at their left, -90: at their right), the isotropic image points (N, 33, 2, in
    image heights) and each landmark's nearness to the camera (metres, relative to mid-hip)."""
    a = np.radians(yaw_deg)
    towards = np.array([np.sin(a), 0.0, np.cos(a)])
    right = np.array([np.cos(a), 0.0, -np.sin(a)])
    u = pose @ right
    v = pose[..., 1]
    near = pose @ towards
    mid_near = (near[:, HIP] + near[:, HIP + 1])[:, None] / 2
    iso = np.stack([u * scale, y0 + v * scale], axis=-1)
    image = np.stack(
        [0.5 + iso[..., 0] / aspect, iso[..., 1], -(near - mid_near) * scale / aspect], axis=-1
    )
    return image, iso, near - mid_near
