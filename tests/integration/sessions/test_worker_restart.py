"""Kill -9 of the pose worker running a session: the session resumes from its last counted
rep, says so with tracking.lost / tracking.ok, and does not start the set over."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

from tests.integration.sessions.conftest import Live, squats, stream


async def test_kill_9_of_a_pose_worker_resumes_the_session_from_its_last_rep(live: Live) -> None:
    clinic = live.clinic
    patient = await live.peer(clinic.patient(0))
    await patient.call("subscribe", channel=f"patient:{clinic.patients[0]}")
    sid = (await live.start())["id"]
    pool = live.commands.pool
    s = squats(reps=14, seed=21)

    def reps() -> list[int]:
        return [e["data"]["rep"] for e in patient.events if e["type"] == "rep.counted"]

    # Roughly real time (5 frames of 33 ms every 80 ms), so frames keep arriving across the kill.
    streaming = asyncio.create_task(stream(patient, sid, s, batch=5, pace_s=0.08))
    await patient.wait_for(lambda e: e["type"] == "rep.counted" and e["data"]["rep"] == 3,
                           within=30)  # fmt: skip
    pid = (await pool.pids())[pool.shard_for(uuid.UUID(sid))]
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    before = reps()[-1]

    lost = await patient.wait_for(
        lambda e: e["type"] == "tracking.lost" and e["data"].get("reason") == "worker_restarted",
        within=10,
    )
    assert time.monotonic() - killed < 5.0
    assert lost["data"]["resumed_from_rep"] >= 3
    await patient.wait_for(lambda e: e["type"] == "tracking.ok" and "resumed_from_rep" in e["data"],
                           within=10)  # fmt: skip
    assert time.monotonic() - killed < 5.0
    await patient.wait_for(lambda e: e["type"] == "set.completed", within=60)
    await streaming
    counted = reps()
    assert counted == list(range(1, 11)), counted  # no reset, no double count
    assert before <= lost["data"]["resumed_from_rep"] + 1
    assert (await pool.pids())[pool.shard_for(uuid.UUID(sid))] != pid
    await patient.close()
