"""The binary `pose.landmarks` op: the same frames as `pose`, as float32 after a JSON header. It
counts the same reps as the JSON op, refuses malformed frames with the same error codes without
touching the session, refuses a set's first frames without the camera's aspect ratio
(`aspect_required`), and answers another patient `not_found`. The JSON `pose` op of PROTOCOL.md,
which has no `aspect`, is still served: the tracker works the ratio out and says so."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tests.integration.sessions.conftest import Live, Peer, frames, squats

FRAME_BYTES = 33 * 4 * 4
# Pose frames per op. A connection may send 100 WebSocket frames a second (burst 200): with three
# per op, a server answering fast enough let this stream go over that and be closed with 4029.
PER_OP = 10


def packed(landmarks: npt.NDArray[np.float64]) -> bytes:
    return np.asarray(landmarks, dtype="<f4").tobytes()


async def send(
    peer: Peer, sid: str, times: list[Any], payload: bytes, aspect: float | None = None
) -> dict[str, Any]:
    header: dict[str, Any] = {"op": "pose.landmarks", "session_id": sid, "t": times}
    if aspect is not None:
        header["aspect"] = aspect
    reply: dict[str, Any] = await peer.binary(header, payload)
    return reply


async def test_binary_landmark_frames_count_reps_like_json_and_refuse_bad_frames(
    live: Live,
) -> None:
    clinic = live.clinic
    patient = await live.peer(clinic.patient(0))
    intruder = await live.peer(clinic.patient(1))
    assert (await patient.call("subscribe", channel=f"patient:{clinic.patients[0]}"))["op"] == "ok"
    sid = (await live.start())["id"]
    s = squats(reps=10)
    t = [float(x) for x in s.t_ms]

    foreign = await send(intruder, sid, t[:2], packed(s.landmarks[:2]), s.aspect_ratio)
    assert foreign["op"] == "error" and foreign["error"]["code"] == "not_found"

    # The set's first frames must say the image's shape; without it nothing is counted yet,
    # then the same frames with it are taken and later ops may leave it out.
    unsure = await send(patient, sid, t[:2], packed(s.landmarks[:2]))
    assert unsure["op"] == "error", unsure
    assert unsure["error"]["code"] == "aspect_required", unsure
    first = await send(patient, sid, t[:PER_OP], packed(s.landmarks[:PER_OP]), s.aspect_ratio)
    assert first["op"] == "ok" and first["result"]["frames"] == PER_OP, first
    second = slice(PER_OP, 2 * PER_OP)
    later = await send(patient, sid, t[second], packed(s.landmarks[second]))
    assert later["op"] == "ok" and later["result"]["frames"] == PER_OP, later

    half = len(t) // 2
    for i in range(2 * PER_OP, half, PER_OP):
        j = min(i + PER_OP, half)
        reply = await send(patient, sid, t[i:j], packed(s.landmarks[i:j]), s.aspect_ratio)
        assert reply["op"] == "ok" and reply["result"]["frames"] == j - i, reply

    # Malformed frames: error replies, the session untouched (the stream then goes on).
    nan = s.landmarks[half : half + 1].copy()
    nan[0, 0, 0] = np.nan
    over = s.landmarks[half : half + 1].copy()
    over[0, :, 3] = 1.5
    bad = {
        "bad_shape": (t[half : half + 2], packed(s.landmarks[half : half + 1])),  # 1 of 2 frames
        "bad_visibility": (t[half : half + 1], packed(over)),
    }
    for code, (times, payload) in bad.items():
        reply = await send(patient, sid, times, payload, s.aspect_ratio)
        assert reply["op"] == "error" and reply["error"]["code"] == code, (code, reply)
    # Faults of single frames are handled frame by frame (issue 20): a NaN landmark is one not
    # seen, a stale frame is dropped alone; neither refuses the op.
    for times, payload in ((t[half - 1 : half], packed(s.landmarks[half : half + 1])),
                           (t[half : half + 1], packed(nan))):  # fmt: skip
        reply = await send(patient, sid, times, payload, s.aspect_ratio)
        assert reply["op"] == "ok" and reply["result"]["frames"] == 1, reply
    words = await send(patient, sid, ["soon"], packed(s.landmarks[half : half + 1]))
    assert words["op"] == "error" and words["error"]["code"] == "bad_shape"
    empty = await send(patient, sid, [], b"")
    assert empty["op"] == "error" and empty["error"]["code"] == "bad_request"
    short = await send(patient, sid, t[half : half + 1], b"\x00" * (FRAME_BYTES - 4))
    assert short["op"] == "error" and short["error"]["code"] == "bad_shape"

    for i in range(half, len(t), PER_OP):
        j = min(i + PER_OP, len(t))
        reply = await send(patient, sid, t[i:j], packed(s.landmarks[i:j]), s.aspect_ratio)
        assert reply["op"] == "ok", reply
    await patient.wait_for(lambda e: e["type"] == "set.completed")
    reps = [e["data"]["rep"] for e in patient.events if e["type"] == "rep.counted"]
    assert reps == list(range(1, 11))
    for peer in (patient, intruder):
        await peer.close()


async def test_the_protocol_pose_op_without_aspect_is_served_and_told_so(live: Live) -> None:
    clinic = live.clinic
    patient = await live.peer(clinic.patient(0))
    assert (await patient.call("subscribe", channel=f"patient:{clinic.patients[0]}"))["op"] == "ok"
    sid = (await live.start())["id"]
    s = squats(reps=4)
    reply = await patient.call("pose", session_id=sid, frames=frames(s, 0, PER_OP))
    assert reply["op"] == "ok" and reply["result"]["frames"] == PER_OP, reply
    cue = await patient.wait_for(
        lambda e: e["type"] == "form.cue" and e["data"].get("code") == "aspect_unknown"
    )
    assert cue["data"]["session_id"] == sid
