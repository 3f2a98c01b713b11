"""A running session fed with synthetic pose frames: reps through the tracker into the guide."""

from __future__ import annotations

import orjson
import pytest

from pipelines.pose import EXERCISES, PoseInputError, SyntheticOptions, synthesize_set
from pipelines.session import (
    Action,
    GuideError,
    GuideEvent,
    LiveSession,
    PlannedExercise,
    SessionPlan,
)

SQUAT = EXERCISES["squat"].kinematics.to_dict()
PLAN = SessionPlan(
    (
        PlannedExercise(0, "squat", "Squat", sets=1, reps=5, rest_s=10, kinematics=SQUAT),
        PlannedExercise(1, "walk", "Walk", sets=1, reps=1, rest_s=0),
    )
)
SET = synthesize_set("squat", SyntheticOptions(reps=5, aspect_ratio=16 / 9, noise_deg=1.0), 7)


def feed_all(
    live: LiveSession, start: int = 0, stop: int | None = None, batch: int = 3
) -> list[GuideEvent]:
    events: list[GuideEvent] = []
    stop = len(SET.t_ms) if stop is None else stop
    for i in range(start, stop, batch):
        j = min(i + batch, stop)
        events += live.feed(1000.0 + i, SET.t_ms[i:j], SET.landmarks[i:j], aspect=16 / 9)
    return events


def test_synthetic_squats_are_counted_and_end_the_set() -> None:
    live = LiveSession(PLAN)
    live.start(0.0)
    events = feed_all(live)
    kinds = [e.type for e in events if e.type != "form.cue"]
    assert kinds == ["rep.counted"] * 5 + ["set.completed", "rest.started"]
    assert [e.data["rep"] for e in events if e.type == "rep.counted"] == [1, 2, 3, 4, 5]
    assert all(e.data["exercise_id"] == "squat" and e.data["set"] == 1 for e in events[:5])


def test_a_refused_batch_changes_nothing() -> None:
    """Only a malformed batch is refused (faults of single frames, a NaN landmark or a repeated
    time, are handled frame by frame: tests/unit/pipelines/test_pose_robustness.py)."""
    live = LiveSession(PLAN)
    live.start(0.0)
    feed_all(live, stop=100)
    before = orjson.dumps(live.snapshot())
    bad = SET.landmarks[100:102].copy()
    bad[0, 0, 3] = 1.5  # a visibility outside [0, 1]
    with pytest.raises(PoseInputError) as err:
        live.feed(2000.0, SET.t_ms[100:102], bad)
    assert err.value.code == "bad_visibility"
    with pytest.raises(PoseInputError) as err:
        live.feed(2000.0, SET.t_ms[100:103], SET.landmarks[100:102])  # 3 times, 2 frames
    assert err.value.code == "bad_shape"
    with pytest.raises(GuideError):
        live.feed(2000.0, SET.t_ms[100:102], SET.landmarks[100:102], aspect=-1.0)
    assert orjson.dumps(live.snapshot()) == before


def test_a_sets_first_frames_without_the_aspect_ratio_are_refused_with_aspect_required() -> None:
    live = LiveSession(PLAN)
    live.start(0.0)
    before = orjson.dumps(live.snapshot())
    with pytest.raises(GuideError) as err:
        live.feed(1000.0, SET.t_ms[:3], SET.landmarks[:3])
    assert err.value.code == "aspect_required" and "aspect" in err.value.message
    assert orjson.dumps(live.snapshot()) == before
    live.feed(1000.0, SET.t_ms[:3], SET.landmarks[:3], aspect=16 / 9)
    # Once the set has its ratio, later frames may leave it out and keep it.
    live.feed(1001.0, SET.t_ms[3:6], SET.landmarks[3:6])
    tracker = live.ready_tracker(None)
    assert tracker is not None and tracker.aspect_ratio == pytest.approx(16 / 9)


def test_a_restored_session_continues_counting_from_its_snapshot() -> None:
    live = LiveSession(PLAN)
    live.start(0.0)
    half = len(SET.t_ms) // 2
    first = [e for e in feed_all(live, stop=half) if e.type == "rep.counted"]
    copy = LiveSession.restore(PLAN, orjson.loads(orjson.dumps(live.snapshot())))
    lost = copy.recovered()
    assert [e.type for e in lost] == ["tracking.lost"]
    assert lost[0].data["resumed_from_rep"] == len(first)
    rest = feed_all(copy, start=half)
    assert rest[0].type == "tracking.ok"
    counted = [e.data["rep"] for e in rest if e.type == "rep.counted"]
    assert [e.data["rep"] for e in first] + counted == [1, 2, 3, 4, 5]


def test_frames_during_rest_and_untracked_sets_are_ignored_and_done_ends_them() -> None:
    live = LiveSession(PLAN)
    live.start(0.0)
    feed_all(live)
    assert live.feed(5000.0, SET.t_ms[-1:] + 10, SET.landmarks[-1:]) == []  # resting
    live.tick(10**12)
    assert live.guide.current.exercise_id == "walk"
    assert live.feed(10**12, SET.t_ms[-1:] + 20, SET.landmarks[-1:]) == []
    events = live.control(10**12 + 1, Action.DONE)
    assert [e.type for e in events] == ["set.completed", "session.completed"]


def test_a_user_pause_refuses_frames_and_a_disconnect_pause_resumes_on_frames() -> None:
    live = LiveSession(PLAN)
    live.start(0.0)
    live.control(1.0, Action.PAUSE)
    with pytest.raises(GuideError) as err:
        feed_all(live, stop=3)
    assert err.value.code == "session_paused"
    live.control(2.0, Action.RESUME)
    assert [e.type for e in live.disconnected(3.0)] == ["session.paused"]
    assert [e.type for e in feed_all(live, stop=3)] == ["session.resumed"]
