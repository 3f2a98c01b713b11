"""The WebSocket ops of a guided session, for the patient's own device.

- `{"op": "pose", "session_id", "frames": [{"t", "landmarks": 33 x [x, y, z, visibility]}],
  "aspect"?: width / height}` (PROTOCOL.md; `aspect` is our addition: MediaPipe normalises x
  and y to the image separately, so 2-D angles need it; kept for the set's later ops that omit
  it; PROTOCOL.md's op has none, so a set begun without one is served: the tracker works the
  ratio out and says so with the cue `aspect_unknown`) ->
  `{"session_id", "frames", "state", "exercise_id", "set", "reps", "target_reps", ...}`.
- binary `pose.landmarks` (header `{"op": "pose.landmarks", "id"?, "session_id", "t": [N times
  in ms], "aspect"?}` + N x 33 x 4 little-endian float32 [x, y, z, visibility]) -> the same reply
  as `pose`: the same frames without JSON number parsing (our addition; a phone's MediaPipe
  gives float32 already, and the server reads them with one numpy call). `aspect` is required
  on a set's first op (error `aspect_required`): a guessed ratio settles late or wrong.
- binary `pose.frame` (header `{"op": "pose.frame", "session_id", "t"}` + JPEG) ->
  `{"session_id", "queued": true, "dropped"}`: inference runs in the pose worker; its feedback
  arrives as events, and the skeleton it found as the ephemeral `pose.skeleton` (also sent for
  the landmarks of `pose` / `pose.landmarks`). `dropped` counts the worker's frames dropped
  oldest-first under load. The telerehab page's fallback when MediaPipe is too slow in it.
- `session.pause` / `session.resume` / `session.skip` / `session.abandon` /
  `session.done` (`reps`? for untracked exercises) `{"session_id"}` -> the session.

Only the session's patient may send these (a clinician controls a session over REST): the token's
organization AND patient must be the session's; any other session id is answered `not_found`.
Malformed frames get an error reply and change nothing.

`pose` and `pose.landmarks` are pipelined (realtime.Pipelined): each op is queued for the
session's worker as it arrives, without waiting for the reply to the one before; the worker
applies them in arrival order and the replies keep that order.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from actors.pose import SessionCommands
from actors.pose.messages import Outcome
from pipelines.session import Action
from realtime import ConnectionContext, OpError, OpHandler
from server.sessions._calls import refusals, settled
from storage.types import PatientSubject

MAX_FRAMES_PER_OP = 120  # 4 s at 30 fps; a text frame is capped at 64 KiB anyway
NUM_LANDMARKS = 33
FRAME_BYTES = NUM_LANDMARKS * 4 * 4  # a binary landmark frame: 33 x 4 float32


def _uuid(frame: dict[str, Any], name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(frame.get(name)))
    except ValueError:
        raise OpError("bad_request", f"{name} must be a UUID") from None


def _patient(ctx: ConnectionContext) -> PatientSubject:
    """The connection's patient with its organization: the worker compares both with the
    session's, never the patient id alone."""
    who = ctx.principal
    subject = None if who is None else who.patient
    if subject is None:
        raise OpError("forbidden", "only the session's patient sends pose frames and commands")
    return subject


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise OpError("bad_request", f"{name} must be a finite number")
    return float(value)


def _check_count(n: int) -> None:
    if n > MAX_FRAMES_PER_OP:
        raise OpError("batch_too_large", f"at most {MAX_FRAMES_PER_OP} frames per op")


def _aspect(frame: dict[str, Any]) -> float | None:
    value = frame.get("aspect")
    return None if value is None else _number(value, "aspect")


def _header(
    ctx: ConnectionContext, frame: dict[str, Any], key: str, empty: str
) -> tuple[PatientSubject, uuid.UUID, list[Any], float | None]:
    """What `pose` and `pose.landmarks` read first: the patient, the session, the frames' list
    under `key` (non-empty, bounded; `empty` is the error for a missing one) and the aspect."""
    owner = _patient(ctx)
    session_id = _uuid(frame, "session_id")
    items = frame.get(key)
    if not isinstance(items, list) or not items:
        raise OpError("bad_request", empty)
    _check_count(len(items))
    return owner, session_id, items, _aspect(frame)


async def _call(call: Awaitable[Outcome]) -> Outcome:
    return await settled(call)  # a refusal is a DomainError: the gateway renders its details


class SessionOps:
    def __init__(self, commands: Callable[[], SessionCommands]) -> None:
        self._commands = commands  # resolved lazily: the facade exists once the app started

    async def pose(
        self, ctx: ConnectionContext, frame: dict[str, Any]
    ) -> Awaitable[dict[str, Any]]:
        owner, session_id, frames, aspect = _header(
            ctx, frame, "frames", "frames must be a non-empty list"
        )
        try:
            t_ms = np.array([f["t"] for f in frames], dtype=np.float64)
            # null (JSON has no NaN) becomes NaN here and is refused as non_finite by the tracker
            landmarks = np.array([f["landmarks"] for f in frames], dtype=np.float64)
        except (TypeError, KeyError, ValueError):
            raise OpError(
                "bad_shape", "each frame needs a numeric t and 33 x [x, y, z, visibility]"
            ) from None
        if landmarks.shape != (len(frames), NUM_LANDMARKS, 4):
            raise OpError(
                "bad_shape", f"landmarks must be {NUM_LANDMARKS} x [x, y, z, visibility] per frame"
            )
        # PROTOCOL.md's `pose` op has no `aspect`: a client that follows it is still served.
        return await self._feed(owner, session_id, t_ms, landmarks, aspect, infer=True)

    async def landmarks(
        self, ctx: ConnectionContext, frame: dict[str, Any]
    ) -> Awaitable[dict[str, Any]]:
        """The binary form of `pose`: times in the header, landmarks as float32 after it."""
        owner, session_id, times, aspect = _header(
            ctx, frame, "t", "t must be a non-empty list of frame times"
        )
        try:  # the same code as `pose` gives a frame without a numeric t
            if any(isinstance(t, bool) or not isinstance(t, int | float) for t in times):
                raise ValueError
            t_ms = np.array(times, dtype=np.float64)
        except (ValueError, OverflowError):
            raise OpError("bad_shape", "t must be a list of numbers (ms)") from None
        payload = frame.get("payload")
        size = len(times) * FRAME_BYTES
        if not isinstance(payload, memoryview) or len(payload) != size:
            raise OpError(
                "bad_shape",
                f"{len(times)} frames need {size} bytes: 33 x [x, y, z, visibility] float32 each",
            )
        raw = np.frombuffer(payload, dtype="<f4").reshape(len(times), NUM_LANDMARKS, 4)
        return await self._feed(owner, session_id, t_ms, raw.astype(np.float64), aspect)

    async def _feed(
        self,
        owner: PatientSubject,
        session_id: uuid.UUID,
        t_ms: NDArray[np.float64],
        landmarks: NDArray[np.float64],
        aspect: float | None,
        *,
        infer: bool = False,
    ) -> Awaitable[dict[str, Any]]:
        # Queued for the worker on return; the gateway submits the next frames meanwhile.
        with refusals():
            pending = await self._commands().feed(
                session_id, owner, t_ms, landmarks, aspect=aspect, infer_aspect=infer
            )
        return self._fed(session_id, pending)

    async def _fed(self, session_id: uuid.UUID, pending: Awaitable[Outcome]) -> dict[str, Any]:
        outcome = await _call(pending)
        return {"session_id": str(session_id), "frames": outcome.frames, **(outcome.view or {})}

    async def frame(self, ctx: ConnectionContext, frame: dict[str, Any]) -> dict[str, Any]:
        owner = _patient(ctx)
        session_id = _uuid(frame, "session_id")
        t_ms = _number(frame.get("t"), "t")
        payload = frame.get("payload")
        if not isinstance(payload, memoryview) or len(payload) == 0:
            raise OpError("bad_image", "a pose.frame carries JPEG bytes after its header")
        outcome = await _call(self._commands().frame(session_id, owner, t_ms, bytes(payload)))
        return {"session_id": str(session_id), "queued": True, "dropped": outcome.dropped}

    def controls(self) -> dict[str, OpHandler]:
        return {f"session.{a.value}": self._control(a) for a in Action}

    def _control(self, action: Action) -> OpHandler:
        async def handler(ctx: ConnectionContext, frame: dict[str, Any]) -> dict[str, Any]:
            owner = _patient(ctx)
            session_id = _uuid(frame, "session_id")
            reps = frame.get("reps")
            if reps is not None and (
                isinstance(reps, bool) or not isinstance(reps, int) or not 0 <= reps <= 5000
            ):
                raise OpError("bad_request", "reps must be an integer 0..5000")
            outcome = await _call(self._commands().control(session_id, owner, action.value, reps))
            view = outcome.view or {}
            return {"session_id": str(session_id), "status": view.get("status"),
                    "current": view.get("current"), "events": outcome.events}  # fmt: skip

        return handler
