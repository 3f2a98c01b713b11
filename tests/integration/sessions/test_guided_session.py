"""A guided session end to end over the WebSocket: a patient streams synthetic squats, the
server counts them, ends the set, runs the rest timer and moves on; the patient's specialist
watches the same events live; nobody else gets in; bad frames are refused harmlessly."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.sessions.conftest import Live, frames, squats, stream

WATCHED = ("rep.counted", "set.completed", "rest.started", "exercise.started")


def story(events: list[dict[str, Any]], session_id: str) -> list[tuple[str, Any]]:
    return [
        (e["type"], e["data"].get("rep") or e["data"].get("exercise_id"))
        for e in events
        if e["data"].get("session_id") == session_id and e["type"] in WATCHED
    ]


async def test_ten_squats_count_end_the_set_rest_and_move_on_for_patient_and_specialist(
    live: Live,
) -> None:
    clinic = live.clinic
    channel = f"patient:{clinic.patients[0]}"
    patient = await live.peer(clinic.patient(0))
    specialist = await live.peer(clinic.specialist)
    intruder = await live.peer(clinic.patient(1))
    for peer in (patient, specialist):
        assert (await peer.call("subscribe", channel=channel))["op"] == "ok"
    denied = await intruder.call("subscribe", channel=channel)
    assert denied["op"] == "error" and denied["error"]["code"] == "forbidden"

    session = await live.start()
    sid = session["id"]
    assert session["status"] == "active" and session["channel"] == channel
    assert [e["exercise_id"] for e in session["exercises"]] == [
        live.exercises["squat"], live.exercises["heel_raise"]
    ]  # fmt: skip

    # Another patient cannot feed this session, whatever they know of its id.
    s = squats(reps=10)
    foreign = await intruder.call("pose", session_id=sid, frames=frames(s, 0, 3))
    assert foreign["op"] == "error" and foreign["error"]["code"] == "not_found"

    half = len(s.t_ms) // 2
    await stream(patient, sid, s, stop=half)
    reps_before = (await live.get(f"/v1/telerehab/sessions/{sid}", clinic.patient(0)))[1]
    reps_before = reps_before["current"]["reps"]
    assert 3 <= reps_before <= 7

    # Malformed batches: error replies, and the session is untouched.
    good = frames(s, half, half + 2)
    bad_batches = {
        "bad_shape": [{**good[0], "landmarks": good[0]["landmarks"][:32]}],
        "bad_visibility": [{**good[0], "landmarks": [[0.5, 0.5, 0.0, 1.5]] * 33}],
    }
    for code, batch in bad_batches.items():
        reply = await patient.call("pose", session_id=sid, aspect=s.aspect_ratio, frames=batch)
        assert reply["op"] == "error" and reply["error"]["code"] == code, reply
    # Faults of single frames are handled frame by frame (issue 20): a stale frame is dropped
    # alone, the op answered.
    stale = await patient.call("pose", session_id=sid, frames=frames(s, half - 5, half - 4))
    assert stale["op"] == "ok" and stale["result"]["frames"] == 1, stale

    await stream(patient, sid, s, start=half)
    heel = live.exercises["heel_raise"]
    await patient.wait_for(
        lambda e: e["type"] == "exercise.started" and e["data"]["exercise_id"] == heel
    )
    await specialist.wait_for(
        lambda e: e["type"] == "exercise.started" and e["data"]["exercise_id"] == heel
    )
    expected: list[tuple[str, int | str | None]] = [("rep.counted", i) for i in range(1, 11)]
    expected += [
        ("set.completed", live.exercises["squat"]),
        ("rest.started", None),
        ("exercise.started", heel),
    ]
    seen = story(patient.events, sid)
    assert seen[0] == ("exercise.started", live.exercises["squat"])
    assert [x if x[0] != "rest.started" else (x[0], None) for x in seen[1:]] == expected
    assert story(specialist.events, sid) == seen
    rest = next(e for e in patient.events if e["type"] == "rest.started")
    assert rest["data"]["seconds"] == 1 and rest["data"]["next"]["exercise_id"] == heel
    reps = [e["data"] for e in patient.events if e["type"] == "rep.counted"]
    assert all(40 <= r["rom_deg"] <= 120 and r["duration_ms"] > 500 for r in reps)

    # End the heel raises early: the session completes and its summary is stored.
    done = await patient.call("session.done", session_id=sid)
    assert done["op"] == "ok" and done["result"]["status"] == "completed", done
    completed = await specialist.wait_for(lambda e: e["type"] == "session.completed")
    squat_summary = completed["data"]["summary"][0]
    assert squat_summary["reps_done"] == 10 and squat_summary["sets_done"] == 1
    assert squat_summary["rom_min_deg"] <= squat_summary["rom_mean_deg"]
    assert squat_summary["rom_mean_deg"] <= squat_summary["rom_max_deg"]
    assert completed["data"]["status"] == "completed"

    body: dict[str, Any] = {}
    for _ in range(50):
        status, body = await live.get(f"/v1/telerehab/sessions/{sid}", clinic.specialist)
        assert status == 200
        if body["completion_id"]:
            break
        await asyncio.sleep(0.1)
    assert body["completion_id"] and body["outcome"] == "completed"
    status, record = await live.get(
        f"/v1/session-completions/{body['completion_id']}", clinic.admin
    )
    assert status == 200 and record["telerehab_session_id"] == sid
    assert record["exercises"][0]["reps_done"] == 10
    answer = {"pain": 2, "difficulty": 5, "note": "fine"}
    status, _ = await live.post(f"/v1/telerehab/sessions/{sid}/questionnaire",
                                clinic.patient(0), answer)  # fmt: skip
    assert status == 201
    status, again = await live.post(f"/v1/telerehab/sessions/{sid}/questionnaire",
                                    clinic.patient(0), answer)  # fmt: skip
    assert status == 409, again
    for peer in (patient, specialist, intruder):
        await peer.close()
