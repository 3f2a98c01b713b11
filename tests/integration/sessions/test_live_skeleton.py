"""The live skeleton (`pose.skeleton`, an ephemeral event): the points of the frames a patient
sends reach those allowed on the patient's channel, thinned and rounded, and are never written
to the channel's history: a subscriber resuming from before them gets every durable event and no
skeleton. A receptionist (non-clinical events only) and another patient get none."""

from __future__ import annotations

from typing import Any

from realtime.client import CadenceClient, Ephemeral, Event
from storage.types import Role
from tests.integration.sessions.conftest import Live, squats, stream


async def test_the_skeleton_reaches_the_channels_clinical_watchers_and_is_never_stored(
    live: Live,
) -> None:
    clinic = live.clinic
    channel = f"patient:{clinic.patients[0]}"
    patient = await live.peer(clinic.patient(0))
    specialist = await live.peer(clinic.specialist)
    desk = await live.peer(clinic.headers(Role.RECEPTIONIST))
    stranger = await live.peer(clinic.patient(1))
    joined = {}
    for name, peer in (("patient", patient), ("specialist", specialist), ("desk", desk)):
        reply = await peer.call("subscribe", channel=channel)
        assert reply["op"] == "ok", (name, reply)
        joined[name] = reply["result"]["position"]
    refused = await stranger.call("subscribe", channel=channel)
    assert refused["op"] == "error", refused
    # The Python SDK hands them to `on_ephemeral`, never to the subscription's iterator.
    token = clinic.specialist["Authorization"].removeprefix("Bearer ")
    sdk = CadenceClient(live.ws_url, token)
    await sdk.connect()
    seen: list[Ephemeral] = []
    durable: list[Event] = []
    await sdk.subscribe(channel, on_event=durable.append, on_ephemeral=seen.append)

    sid = (await live.start())["id"]
    s = squats(reps=2)
    replies = await stream(patient, sid, s, batch=10, pace_s=0.05)
    assert all(r["op"] == "ok" for r in replies), replies
    # The first batch's skeleton went out before any rep could be counted, on the same pub/sub
    # link and the same connection: seen a rep, seen that skeleton too.
    await specialist.wait_for(lambda e: e["type"] == "rep.counted", within=30.0)

    sent = {float(t): lm for t, lm in zip(s.t_ms, s.landmarks, strict=True)}
    skeletons = [f for f in specialist.ephemeral if f["data"]["session_id"] == sid]
    assert skeletons and all(f["type"] == "pose.skeleton" for f in specialist.ephemeral)
    # At most one a batch (thinned further to 10 a second); no position: nothing to resume.
    assert len(skeletons) <= len(replies)
    for frame in skeletons:
        assert frame["channel"] == channel and "offset" not in frame and "epoch" not in frame
        data: dict[str, Any] = frame["data"]
        assert data["aspect"] == round(s.aspect_ratio, 4)
        landmarks = sent[data["t"]]  # the points of a frame the patient sent, rounded
        assert len(data["points"]) == 33
        for point, row in zip(data["points"], landmarks, strict=True):
            if row[3] < 0.5:
                assert point is None
            else:
                assert point is not None and len(point) == 2
                assert all(round(p, 3) == p for p in point)  # rounded to 3 decimals
                assert (
                    abs(point[0] - row[0]) <= 5e-4 + 1e-9 and abs(point[1] - row[1]) <= 5e-4 + 1e-9
                )
        assert any(p is not None for p in data["points"])

    # The desk sees non-clinical events only: a skeleton is clinical. Replies on a connection
    # follow what was pushed to it before, so after this ping nothing more is on its way.
    assert (await desk.call("ping"))["op"] == "ok"
    assert desk.ephemeral == []

    # Never stored: resuming from before the session replays its events, and no skeleton.
    late = await live.peer(clinic.specialist)
    resumed = await late.call("subscribe", channel=channel, since=joined["specialist"])
    assert resumed["op"] == "ok" and resumed["result"]["recovered"] is True, resumed
    await late.wait_for(lambda e: e["type"] == "rep.counted", within=30.0)
    assert (await late.call("ping"))["op"] == "ok"
    assert "pose.skeleton" not in late.types()
    assert late.ephemeral == []  # every skeleton went out before the last pose reply
    assert "pose.skeleton" not in specialist.types()
    await sdk.call("ping")
    assert seen and {e.type for e in seen} == {"pose.skeleton"}
    assert {e.data["session_id"] for e in seen} == {sid} and {e.channel for e in seen} == {channel}
    assert "rep.counted" in {e.type for e in durable}
    assert "pose.skeleton" not in {e.type for e in durable}
    await sdk.close()
    for peer in (patient, specialist, desk, stranger, late):
        await peer.close()
