"""How each seeded exercise moves the synthetic body, driven by its driving angle.

Each motion maps the driving angle per frame to a full pose in which that angle is exact (in
the plane the exercise's camera view sees) and every other joint follows plausibly: the shank
tilts as the knee bends, the trunk leans in a squat, the pelvis lifts in a bridge. ``Faults``
add the compensations the form rules look for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from ._angles import FloatArray
from ._landmarks import Landmark as L
from ._skeleton import BODY, at, complete, empty, flat_feet, frontal, sagittal

B = BODY
_SIDES = ((1.0, "LEFT"), (-1.0, "RIGHT"))


@dataclass(frozen=True, slots=True)
class Faults:
    trunk_lean_deg: float = 0.0  # extra forward lean (sideways for front-view exercises)
    knee_valgus_deg: float = 0.0  # knees collapse inwards, growing with knee flexion
    asymmetry_deg: float = 0.0  # the right side lags the left by this much


PoseFn = Callable[[FloatArray, Faults], FloatArray]


@dataclass(frozen=True, slots=True)
class Motion:
    rest_deg: float  # the driving angle at rest
    turn_deg: float  # ... at the turning point of a full rep
    pose: PoseFn


def _lm(side: str, name: str) -> L:
    return L[f"{side}_{name}"]


def _still(point: FloatArray, theta: FloatArray) -> FloatArray:
    """A point that does not move, repeated for every frame."""
    return np.tile(point, (len(theta), 1))


def _sag_leg(
    ankle: FloatArray, shank_deg: FloatArray, knee_deg: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Knee and hip of a leg in the sagittal plane: shank tilted ``shank_deg`` forward."""
    knee = ankle + B.shank * sagittal(shank_deg)
    hip = knee + B.thigh * sagittal(shank_deg - (180.0 - knee_deg))
    return knee, hip


def _sag_arm(
    pose: FloatArray, side: str, upper_deg: FloatArray | float, elbow_deg: float | FloatArray
) -> None:
    shoulder = pose[:, _lm(side, "SHOULDER")]
    elbow = shoulder + B.upper_arm * sagittal(upper_deg)
    pose[:, _lm(side, "ELBOW")] = elbow
    pose[:, _lm(side, "WRIST")] = elbow + B.forearm * sagittal(
        np.asarray(upper_deg) - (180.0 - np.asarray(elbow_deg))
    )


def _trunk(pose: FloatArray, mid_hip: FloatArray, up: FloatArray) -> None:
    """Hips and shoulders from the mid-hip and the trunk's unit direction."""
    mid_sh = mid_hip + B.torso * up
    for s, side in _SIDES:
        pose[:, _lm(side, "HIP")] = mid_hip + at(s * B.hip_half, 0, 0)
        pose[:, _lm(side, "SHOULDER")] = mid_sh + at(s * B.shoulder_half, 0, 0)


def _valgus(pose: FloatArray, flexion: FloatArray, faults: Faults) -> None:
    if not faults.knee_valgus_deg:
        return
    shift = np.tan(np.radians(faults.knee_valgus_deg)) * 0.2 * np.clip(flexion / 80.0, 0, 1.5)
    for s, side in _SIDES:
        pose[:, _lm(side, "KNEE"), 0] -= s * shift


def _squat_like(
    theta: FloatArray, faults: Faults, shank_deg: FloatArray, lean_deg: FloatArray
) -> FloatArray:
    pose = empty(len(theta))
    for s, side in _SIDES:
        ankle = at(s * B.hip_half, B.ankle_height, 0.0)
        pose[:, _lm(side, "ANKLE")] = ankle
        pose[:, _lm(side, "KNEE")], hip = _sag_leg(_still(ankle, theta), shank_deg, theta)
    _trunk(pose, hip - at(-B.hip_half, 0, 0), sagittal(lean_deg + faults.trunk_lean_deg))
    _valgus(pose, 180.0 - theta, faults)
    flat_feet(pose)
    return pose


def _squat(theta: FloatArray, faults: Faults) -> FloatArray:
    flexion = 180.0 - theta
    pose = _squat_like(theta, faults, 0.42 * flexion, 0.45 * flexion)
    for _, side in _SIDES:
        _sag_arm(pose, side, np.full_like(theta, 90.0), 175.0)  # arms reach forward for balance
    return complete(pose)


def _sit_to_stand(theta: FloatArray, faults: Faults) -> FloatArray:
    rise = np.clip((theta - 92.0) / 82.0, 0.0, 1.0)
    lean = 8.0 + 30.0 * np.sin(np.pi * rise)
    pose = _squat_like(theta, faults, 0.12 * (180.0 - theta), lean)
    for _, side in _SIDES:
        _sag_arm(pose, side, lean + 150.0, 60.0)  # arms folded across the chest
    return complete(pose)


def _two_link(hip: FloatArray, ankle: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Knee (bending forward) and reachable ankle of a leg from hip to a target ankle."""
    d_vec = ankle - hip
    d = np.clip(np.linalg.norm(d_vec, axis=-1), 0.05, B.thigh + B.shank - 1e-6)
    u = d_vec / np.linalg.norm(d_vec, axis=-1, keepdims=True)
    cos_a = (B.thigh**2 + d**2 - B.shank**2) / (2 * B.thigh * d)
    a = np.arccos(np.clip(cos_a, -1.0, 1.0))
    n = np.stack([np.zeros_like(d), -u[:, 2], u[:, 1]], axis=-1)  # u turned towards forward
    n *= np.where(n[:, 2:] < 0, -1.0, 1.0)
    knee = hip + B.thigh * (np.cos(a)[:, None] * u + np.sin(a)[:, None] * n)
    reach = ankle - knee
    return knee, knee + B.shank * reach / np.linalg.norm(reach, axis=-1, keepdims=True)


def _forward_lunge(theta: FloatArray, faults: Faults) -> FloatArray:
    pose = empty(len(theta))
    front = _still(at(B.hip_half, B.ankle_height, 0.25), theta)
    knee, hip = _sag_leg(front, -15.0 + 0.55 * (180.0 - theta), theta)
    pose[:, L.LEFT_ANKLE], pose[:, L.LEFT_KNEE] = front, knee
    _trunk(
        pose, hip - at(B.hip_half, 0, 0), sagittal(np.full_like(theta, 5.0 + faults.trunk_lean_deg))
    )
    back = _still(at(-B.hip_half, 0.16, -0.38), theta)
    pose[:, L.RIGHT_KNEE], pose[:, L.RIGHT_ANKLE] = _two_link(pose[:, L.RIGHT_HIP], back)
    _valgus(pose, 180.0 - theta, faults)
    pose[:, L.RIGHT_KNEE, 0] = -B.hip_half  # only the front knee is tested for valgus
    flat_feet(pose)
    toe_dir = sagittal(np.full_like(theta, 150.0))  # the back foot stands on its toes
    pose[:, L.RIGHT_FOOT_INDEX] = pose[:, L.RIGHT_ANKLE] + 0.165 * toe_dir
    pose[:, L.RIGHT_HEEL] = pose[:, L.RIGHT_ANKLE] - 0.06 * toe_dir
    for _, side in _SIDES:
        _sag_arm(pose, side, 175.0 + faults.trunk_lean_deg, 165.0)
    return complete(pose)


def _heel_raise(theta: FloatArray, faults: Faults) -> FloatArray:
    pose = empty(len(theta))
    pitch = theta - 90.0  # the foot pivots on its toes; the shank stays vertical
    foot = float(np.hypot(0.15, 0.065))
    rest_pitch = np.degrees(np.arctan2(0.065, 0.15))
    for s, side in _SIDES:
        toe = _still(at(s * B.hip_half, B.ankle_height - 0.065, 0.15), theta)
        rad = np.radians(pitch)
        ankle = toe + foot * np.stack([np.zeros_like(rad), np.sin(rad), -np.cos(rad)], -1)
        pose[:, _lm(side, "FOOT_INDEX")] = toe
        pose[:, _lm(side, "ANKLE")] = ankle
        tilt = np.radians(pitch - rest_pitch)
        heel_z = -0.05 * np.cos(tilt) - 0.07 * np.sin(tilt)  # the flat-foot heel, pitched
        heel_y = 0.05 * np.sin(tilt) - 0.07 * np.cos(tilt)
        pose[:, _lm(side, "HEEL")] = ankle + np.stack([np.zeros_like(tilt), heel_y, heel_z], -1)
        pose[:, _lm(side, "KNEE")] = ankle + at(0, B.shank, 0)
    mid_hip = pose[:, L.LEFT_KNEE] + at(-B.hip_half, B.thigh, 0)
    _trunk(pose, mid_hip, sagittal(np.full_like(theta, faults.trunk_lean_deg)))
    for _, side in _SIDES:
        _sag_arm(pose, side, 175.0 + faults.trunk_lean_deg, 170.0)
    return complete(pose)


def _glute_bridge(theta: FloatArray, faults: Faults) -> FloatArray:
    pose = empty(len(theta))
    lift = np.clip(20.0 * (theta - 130.0) / 42.0, -2.0, 30.0)  # trunk off the floor, degrees
    mid_sh = at(0.0, 0.10, 0.0)
    mid_hip = mid_sh + B.torso * sagittal(90.0 - lift)  # lying, feet towards +Z
    _trunk(pose, mid_hip, sagittal(270.0 - lift))  # shoulders stay on the floor
    for s, side in _SIDES:
        hip = pose[:, _lm(side, "HIP")]
        knee = hip + B.thigh * sagittal(theta - 90.0 - lift)
        drop = np.clip(knee[:, 1] - B.ankle_height, 0.0, B.shank)
        ankle = knee + np.stack(
            [np.zeros_like(drop), -drop, np.sqrt(B.shank**2 - drop**2)], axis=-1
        )  # foot flat on the floor, ahead of the knee
        pose[:, _lm(side, "KNEE")], pose[:, _lm(side, "ANKLE")] = knee, ankle
        shoulder = pose[:, _lm(side, "SHOULDER")]
        pose[:, _lm(side, "ELBOW")] = shoulder + at(0.04 * s, -0.02, B.upper_arm)
        pose[:, _lm(side, "WRIST")] = shoulder + at(0.06 * s, -0.03, B.upper_arm + B.forearm)
    flat_feet(pose)
    return complete(pose)


def _seated_knee_extension(theta: FloatArray, faults: Faults) -> FloatArray:
    pose = empty(len(theta))
    _trunk(pose, _still(at(0.0, 0.50, 0.0), theta), sagittal(faults.trunk_lean_deg))
    for _, side in _SIDES:
        knee_deg = theta if side == "LEFT" else np.full_like(theta, 90.0)
        knee = pose[:, _lm(side, "HIP")] + at(0, 0, B.thigh)
        shank = 270.0 - knee_deg  # 90 degrees: shank straight down
        ankle = knee + B.shank * sagittal(shank)
        pose[:, _lm(side, "KNEE")], pose[:, _lm(side, "ANKLE")] = knee, ankle
        pose[:, _lm(side, "FOOT_INDEX")] = (
            ankle + 0.15 * sagittal(shank - 90) + 0.065 * sagittal(shank)
        )
        pose[:, _lm(side, "HEEL")] = ankle - 0.05 * sagittal(shank - 90) + 0.07 * sagittal(shank)
        _sag_arm(pose, side, 160.0 + faults.trunk_lean_deg, 120.0)  # hands rest on the thighs
    return complete(pose)


def _standing(n: int, lean_deg: FloatArray | float, lean_side: float = 0.0) -> FloatArray:
    """Standing straight; a trunk lean goes forward, or sideways towards ``lean_side``."""
    pose = empty(n)
    for s, side in _SIDES:
        ankle = at(s * B.hip_half, B.ankle_height, 0.0)
        pose[:, _lm(side, "ANKLE")] = ankle
        pose[:, _lm(side, "KNEE")] = ankle + at(0, B.shank, 0)
    mid_hip = at(0.0, B.ankle_height + B.shank + B.thigh, 0.0) + np.zeros((n, 1))
    lean = np.broadcast_to(np.asarray(lean_deg, dtype=np.float64), (n,))
    up = frontal(lean, lean_side) if lean_side else sagittal(lean)
    _trunk(pose, mid_hip, up)
    flat_feet(pose)
    return pose


def _hip_abduction(theta: FloatArray, faults: Faults) -> FloatArray:
    pose = _standing(len(theta), faults.trunk_lean_deg, lean_side=-1.0)
    hip = pose[:, L.LEFT_HIP]
    to_shoulder = pose[:, L.LEFT_SHOULDER] - hip
    tilt = np.degrees(np.arctan2(to_shoulder[:, 0], to_shoulder[:, 1]))  # lateral of vertical
    leg = frontal(tilt + theta, 1.0)
    pose[:, L.LEFT_KNEE] = hip + B.thigh * leg
    pose[:, L.LEFT_ANKLE] = hip + (B.thigh + B.shank) * leg
    flat_feet(pose)
    for s, side in _SIDES:
        shoulder = pose[:, _lm(side, "SHOULDER")]
        pose[:, _lm(side, "ELBOW")] = shoulder + B.upper_arm * frontal(
            np.full_like(theta, 172.0), s
        )
        pose[:, _lm(side, "WRIST")] = pose[:, _lm(side, "ELBOW")] + B.forearm * frontal(
            np.full_like(theta, 175.0), s
        )
    return complete(pose)


def _shoulder_flexion(theta: FloatArray, faults: Faults) -> FloatArray:
    lean = np.full_like(theta, -faults.trunk_lean_deg)  # the compensation: leaning back
    pose = _standing(len(theta), lean)
    _sag_arm(pose, "LEFT", lean + 180.0 - theta, 175.0)
    _sag_arm(pose, "RIGHT", lean + 175.0, 170.0)
    return complete(pose)


def _shoulder_abduction(theta: FloatArray, faults: Faults) -> FloatArray:
    pose = _standing(len(theta), faults.trunk_lean_deg, lean_side=-1.0)
    for s, side in _SIDES:
        angle = theta if s > 0 else theta - faults.asymmetry_deg
        shoulder = pose[:, _lm(side, "SHOULDER")]
        to_hip = pose[:, _lm(side, "HIP")] - shoulder
        down = np.degrees(np.arctan2(s * to_hip[:, 0], to_hip[:, 1]))  # about 185: medial
        elbow = shoulder + B.upper_arm * frontal(down - angle, s)
        pose[:, _lm(side, "ELBOW")] = elbow
        pose[:, _lm(side, "WRIST")] = elbow + B.forearm * frontal(down - angle - 5.0, s)
    return complete(pose)


def _biceps_curl(theta: FloatArray, faults: Faults) -> FloatArray:
    lean = np.full_like(theta, faults.trunk_lean_deg)
    pose = _standing(len(theta), lean)
    _sag_arm(pose, "LEFT", lean + 175.0, theta)  # upper arm by the side, 5 degrees forward
    _sag_arm(pose, "RIGHT", lean + 175.0, 170.0)
    return complete(pose)


MOTIONS: Mapping[str, Motion] = MappingProxyType(
    {
        "squat": Motion(172.0, 88.0, _squat),
        "sit_to_stand": Motion(92.0, 174.0, _sit_to_stand),
        "forward_lunge": Motion(174.0, 92.0, _forward_lunge),
        "heel_raise": Motion(115.0, 152.0, _heel_raise),
        "glute_bridge": Motion(130.0, 172.0, _glute_bridge),
        "seated_knee_extension": Motion(92.0, 170.0, _seated_knee_extension),
        "standing_hip_abduction": Motion(175.0, 140.0, _hip_abduction),
        "shoulder_flexion": Motion(18.0, 155.0, _shoulder_flexion),
        "shoulder_abduction": Motion(15.0, 150.0, _shoulder_abduction),
        "biceps_curl": Motion(165.0, 45.0, _biceps_curl),
    }
)
