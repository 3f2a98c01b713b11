"""Requests to the PoseWorker pool and its answers. Plain frozen dataclasses: Ray pickles them
(numpy arrays travel without a copy). Every request names its session, which the pool routes by
a stable hash; requests that act for a patient carry that patient with its organization
(`owner`, a PatientSubject) and the worker answers `not_found` unless both are the session's, so
one patient never reaches another's session (nor a same-id patient of another clinic) and ids
cannot be probed."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from storage.types import PatientSubject


@dataclass(frozen=True, slots=True)
class SessionMeta:
    session_id: uuid.UUID
    org_id: uuid.UUID
    patient_id: uuid.UUID
    assignment_id: uuid.UUID
    session_index: int
    started_by: uuid.UUID | None  # the user who started it (audit)
    started_role: str

    def owned_by(self, who: PatientSubject) -> bool:
        """Whether `who` is this session's patient: the organization AND the patient."""
        return who.patient_id == self.patient_id and who.org_id == self.org_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": str(self.session_id),
            "org_id": str(self.org_id),
            "patient_id": str(self.patient_id),
            "assignment_id": str(self.assignment_id),
            "session_index": self.session_index,
            "started_by": None if self.started_by is None else str(self.started_by),
            "started_role": self.started_role,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionMeta:
        by = data.get("started_by")
        return cls(
            session_id=uuid.UUID(data["session_id"]),
            org_id=uuid.UUID(data["org_id"]),
            patient_id=uuid.UUID(data["patient_id"]),
            assignment_id=uuid.UUID(data["assignment_id"]),
            session_index=int(data["session_index"]),
            started_by=None if by is None else uuid.UUID(by),
            started_role=str(data["started_role"]),
        )


@dataclass(frozen=True, slots=True)
class Start:
    meta: SessionMeta
    plan: Mapping[str, Any]  # SessionPlan.to_dict()

    @property
    def session_id(self) -> uuid.UUID:
        return self.meta.session_id


@dataclass(frozen=True, slots=True)
class Feed:
    """A batch of landmark frames (the `pose` op): (N,) times in ms, (N, 33, 4) landmarks."""

    session_id: uuid.UUID
    owner: PatientSubject
    t_ms: NDArray[np.float64]
    landmarks: NDArray[np.float64]
    aspect: float | None = None
    world: NDArray[np.float64] | None = None
    # The fixed-point JSON `pose` op has no `aspect`: without one the tracker works the ratio
    # out (and says so); every other way in must send it on a set's first frames.
    infer_aspect: bool = False

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Every pose op crosses to a worker as one of these, up to thousands a second: as raw
        # bytes they pickle in about a quarter of the time Ray's cloudpickle takes for the
        # dataclass with its UUIDs and arrays (measured: ~100 us -> ~25 us, load ~30 -> ~11 us).
        world = None if self.world is None else _pack(self.world)
        owner = self.owner.org_id.bytes + self.owner.patient_id.bytes
        return _feed, (self.session_id.bytes, owner, _pack(self.t_ms),
                       _pack(self.landmarks), self.aspect, world, self.infer_aspect)  # fmt: skip


_Packed = tuple[tuple[int, ...], str, bytes]


def _pack(array: NDArray[np.float64]) -> _Packed:
    a = np.ascontiguousarray(array, dtype=np.float64)
    return a.shape, a.dtype.str, a.tobytes()


def _unpack(packed: _Packed) -> NDArray[np.float64]:
    shape, dtype, raw = packed
    return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)


def _feed(
    session_id: bytes, owner: bytes, t_ms: _Packed, landmarks: _Packed, aspect: float | None,
    world: _Packed | None, infer_aspect: bool,
) -> Feed:  # fmt: skip
    subject = PatientSubject(uuid.UUID(bytes=owner[:16]), uuid.UUID(bytes=owner[16:]))
    return Feed(uuid.UUID(bytes=session_id), subject, _unpack(t_ms), _unpack(landmarks),
                aspect, None if world is None else _unpack(world), infer_aspect)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Frame:
    """One camera image (the binary `pose.frame` op), queued for inference in the worker."""

    session_id: uuid.UUID
    owner: PatientSubject
    t_ms: float
    jpeg: bytes


@dataclass(frozen=True, slots=True)
class Control:
    session_id: uuid.UUID
    owner: PatientSubject
    action: str  # pipelines.session.Action
    reps: int | None = None


@dataclass(frozen=True, slots=True)
class Status:
    session_id: uuid.UUID


Request = Start | Feed | Frame | Control | Status


@dataclass(frozen=True, slots=True)
class Outcome:
    """`error`: None, or a code (`not_found`, `session_ended`, `session_paused`,
    `illegal_transition`, `bad_request`, `aspect_required`, or a pose input code such as
    `bad_shape`).
    `view`: the session as GET shows it. `frames`: frames accepted; `dropped`: the worker's
    frame-path drop counter (frames only)."""

    error: str | None = None
    message: str = ""
    view: Mapping[str, Any] | None = None
    frames: int = 0
    dropped: int = 0
    events: list[str] = field(default_factory=list)
