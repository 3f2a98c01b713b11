"""Session control over REST and the WebSocket, dropped connections, and who may do what."""

from __future__ import annotations

import asyncio
import io
import uuid
from typing import Any

from PIL import Image
from skimage import data

from tests.integration.sessions.conftest import Live, squats, stream
from tests.integration.telerehab.conftest import make_clinic


async def _completion(live: Live, sid: str, headers: dict[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(100):
        status, body = await live.get(f"/v1/telerehab/sessions/{sid}", headers)
        assert status == 200, body
        if body["completion_id"]:
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"no completion recorded: {body}")


async def test_clinicians_pause_resume_skip_and_abandon_over_rest_and_outsiders_get_404(
    live: Live,
) -> None:
    clinic = live.clinic
    sid = (await live.start())["id"]
    path = f"/v1/telerehab/sessions/{sid}"
    status, body = await live.post(path + "/pause", clinic.specialist)
    assert status == 200 and body["status"] == "paused"
    assert body["current"]["pause_reason"] == "user"
    status, body = await live.post(path + "/pause", clinic.admin)
    assert status == 409 and body["error"]["code"] == "illegal_transition"
    status, body = await live.post(path + "/resume", clinic.patient(0))
    assert status == 200 and body["status"] == "active"
    status, body = await live.post(path + "/skip", clinic.admin)
    assert status == 200 and body["current"]["exercise_id"] == live.exercises["heel_raise"]

    other = await make_clinic(live.clinic.settings, live.clinic.db)
    for outsider in (clinic.patient(1), other.admin, other.patient(0)):
        assert (await live.get(path, outsider))[0] == 404
        assert (await live.post(path + "/abandon", outsider))[0] == 404
    status, _ = await live.post(path + "/questionnaire", clinic.patient(0),
                                {"pain": 1, "difficulty": 1})  # fmt: skip
    assert status == 409  # not finished yet

    status, body = await live.post(path + "/abandon", clinic.patient(0))
    assert status == 200 and body["status"] == "abandoned" and body["outcome"] == "partial"
    status, body = await live.post(path + "/resume", clinic.patient(0))
    assert status == 409 and body["error"]["code"] == "session_ended"
    recorded = await _completion(live, sid, clinic.admin)
    assert recorded["outcome"] == "partial"
    assert [e["skipped"] for e in recorded["summary"]] == [True, False]


async def test_a_dropped_connection_pauses_and_a_reconnect_resumes_where_it_was(
    live: Live,
) -> None:
    clinic = live.clinic
    specialist = await live.peer(clinic.specialist)
    await specialist.call("subscribe", channel=f"patient:{clinic.patients[0]}")
    patient = await live.peer(clinic.patient(0))
    sid = (await live.start())["id"]
    s = squats(reps=4, seed=11)
    third = len(s.t_ms) // 3
    await stream(patient, sid, s, stop=third)
    counted = (await live.get(f"/v1/telerehab/sessions/{sid}", clinic.admin))[1]["current"]["reps"]

    await patient.close()
    paused = await specialist.wait_for(lambda e: e["type"] == "session.paused", within=8)
    assert paused["data"]["reason"] == "disconnected" and paused["data"]["session_id"] == sid
    state = (await live.get(f"/v1/telerehab/sessions/{sid}", clinic.admin))[1]
    assert state["status"] == "paused" and state["current"]["reps"] == counted

    patient = await live.peer(clinic.patient(0))
    await specialist.wait_for(lambda e: e["type"] == "session.resumed", within=8)
    await stream(patient, sid, s, start=third)
    reps = [e["data"]["rep"] for e in specialist.events if e["type"] == "rep.counted"]
    assert reps == list(range(1, len(reps) + 1)) and reps[-1] == 4
    await patient.close()
    await specialist.close()


async def test_camera_frames_find_the_astronauts_pose_in_the_worker(live: Live) -> None:
    """The frame path on a real photograph shipped inside scikit-image (no download)."""
    clinic = live.clinic
    patient = await live.peer(clinic.patient(0))
    sid = (await live.start())["id"]
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, "JPEG", quality=90)
    t0 = 1_732_000_000_000
    for i in range(3):
        reply = await patient.binary({"op": "pose.frame", "session_id": sid, "t": t0 + 33 * i},
                                     buf.getvalue())  # fmt: skip
        assert reply["op"] == "ok" and reply["result"]["queued"], reply
    bad = await patient.binary({"op": "pose.frame", "session_id": sid}, buf.getvalue())
    assert bad["op"] == "error" and bad["error"]["code"] == "bad_request"
    frames: dict[str, Any] = {}
    for _ in range(300):  # the worker builds its MediaPipe graph on the first frame
        frames = (await live.get(f"/v1/telerehab/sessions/{sid}", clinic.admin))[1]["frames"]
        if frames["pose_found"] >= 1:
            break
        await asyncio.sleep(0.1)
    assert frames["received"] == 3 and frames["pose_found"] >= 1
    stats = await live.commands.stats()
    assert sum(s["frames_done"] for s in stats) >= 1
    assert sum(s["frames_bad"] for s in stats) == 0
    await patient.close()


async def test_the_worker_stores_clinical_telemetry_of_each_rep_and_phase(live: Live) -> None:
    clinic = live.clinic
    patient = await live.peer(clinic.patient(0))
    sid = (await live.start())["id"]
    await stream(patient, sid, squats(reps=3, seed=5))
    stored: dict[str, int] = {}
    for _ in range(50):  # written about once a second, batched across the worker's sessions
        async with clinic.db.platform() as conn:
            rows = await conn.fetch(
                "SELECT type, count(*) AS n FROM telemetry_events WHERE session_id = $1 "
                "GROUP BY type", uuid.UUID(sid),
            )  # fmt: skip
        stored = {r["type"]: r["n"] for r in rows}
        if stored.get("rep.metrics") == 3:
            break
        await asyncio.sleep(0.2)
    assert stored.get("rep.metrics") == 3 and stored.get("session.timing", 0) >= 1, stored
    await patient.close()
