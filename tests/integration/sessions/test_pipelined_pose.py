"""A patient's device streams `pose.landmarks` ops without waiting for each reply (the gateway
pipelines them): every frame reaches the session's tracker once and in order (the exact rep
count, no timestamp refusal), each reply carries its op's id and frame count and the replies
arrive in the order the ops were sent; a malformed op in the stream is refused in its turn and
a stale frame dropped alone, neither touching the count; a command sent after the stream sees
all of it."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from tests.integration.sessions.conftest import Live, squats

PER_OP = 8


def header(sid: str, times: Any, aspect: float) -> dict[str, Any]:
    return {"op": "pose.landmarks", "session_id": sid, "t": [float(t) for t in times],
            "aspect": aspect}  # fmt: skip


async def test_a_pipelined_stream_of_pose_ops_counts_every_rep_once_in_order(live: Live) -> None:
    patient = await live.peer(live.clinic.patient(0))
    channel = f"patient:{live.clinic.patients[0]}"
    assert (await patient.call("subscribe", channel=channel))["op"] == "ok"
    sid = (await live.start())["id"]
    s = squats(reps=10)
    n = len(s.t_ms)
    half = n // 2 // PER_OP * PER_OP
    payloads = s.landmarks.astype("<f4")

    sent: list[tuple[asyncio.Future[dict[str, Any]], int | str]] = []  # (reply, expected)
    for i in range(0, n, PER_OP):
        j = min(i + PER_OP, n)
        sent.append((await patient.binary_nowait(
            header(sid, s.t_ms[i:j], s.aspect_ratio), payloads[i:j].tobytes()), j - i))  # fmt: skip
        if i == half:  # in the middle of the stream: a malformed op and a stale one
            bad = payloads[j : j + 1].copy()
            bad[0, :, 3] = 1.5
            times = s.t_ms[j : j + 1]
            sent.append((await patient.binary_nowait(
                header(sid, times, s.aspect_ratio), bad.tobytes()), "bad_visibility"))  # fmt: skip
            # A stale frame is dropped alone (issue 20): the op is answered, nothing counts it.
            stale = s.t_ms[i : i + 1]
            sent.append((await patient.binary_nowait(
                header(sid, stale, s.aspect_ratio), payloads[i : i + 1].tobytes()), 1))  # fmt: skip
    # A command after the stream runs once every frame before it has been applied.
    status = patient.send_nowait({"op": "session.pause", "session_id": sid})

    async with asyncio.timeout(30):
        replies = [await fut for fut, _ in sent]
        paused = await status
    for reply, (_, expected) in zip(replies, sent, strict=True):
        if isinstance(expected, int):
            assert reply["op"] == "ok" and reply["result"]["frames"] == expected, reply
        else:
            assert reply["op"] == "error" and reply["error"]["code"] == expected, reply
    assert patient.replied == sorted(patient.replied)  # in the order the ops were sent
    # Rep by rep while the set runs (the tenth ends it: the view moves to the rest).
    ok = [r["result"] for r in replies if r["op"] == "ok"]
    reps = [r["reps"] for r in ok if r["state"] == "active"]
    assert reps[0] == 0 and reps[-1] == 9 and set(np.diff(reps)) == {0, 1}
    assert ok[-1]["state"] == "resting"
    assert paused["op"] == "ok", paused

    await patient.wait_for(lambda e: e["type"] == "set.completed")
    counted = [e["data"]["rep"] for e in patient.events if e["type"] == "rep.counted"]
    assert counted == list(range(1, 11))
    await patient.close()
