"""The session guide's state machine: sets, rest timer, next exercise, pause, skip, abandon."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipelines.session import (
    TRANSITIONS,
    GuideError,
    GuideEvent,
    PauseReason,
    PlannedExercise,
    SessionGuide,
    SessionPlan,
    SessionState,
)

PLAN = SessionPlan(
    (
        PlannedExercise(0, "ex-a", "Squat", sets=2, reps=3, rest_s=30),
        PlannedExercise(1, "ex-b", "Bridge", sets=1, reps=2, rest_s=0),
    )
)


def types(events: list[GuideEvent]) -> list[str]:
    return [e.type for e in events]


def reps(guide: SessionGuide, n: int, now: float = 1000.0) -> list[str]:
    out: list[str] = []
    for _ in range(n):
        out += types(guide.rep(now, 80.0, 2000))
    return out


def test_a_set_ends_at_its_target_then_rests_then_starts_the_next_set() -> None:
    g = SessionGuide(PLAN)
    assert types(g.start(0.0)) == ["session.started", "exercise.started"]
    assert reps(g, 3) == ["rep.counted"] * 3 + ["set.completed", "rest.started"]
    assert g.state is SessionState.RESTING and (g.index, g.set_no) == (0, 2)
    assert g.tick(30_999.0) == []
    started = g.tick(31_000.0)
    assert types(started) == ["exercise.started"]
    assert started[0].data == {"exercise_id": "ex-a", "set": 2, "name": "Squat", "position": 0,
                               "sets": 2, "target_reps": 3, "tracked": False}  # fmt: skip


def test_the_last_set_of_an_exercise_announces_the_next_exercise_and_the_end_completes() -> None:
    g = SessionGuide(PLAN)
    g.start(0.0)
    reps(g, 3)
    g.tick(40_000.0)
    events = [e for e in (e for _ in range(3) for e in g.rep(50_000.0, 70.0, 1500))]
    rest = events[-1]
    assert rest.type == "rest.started" and rest.data["next"]["exercise_id"] == "ex-b"
    g.tick(90_000.0)
    final = g.rep(91_000.0, None, None) + g.rep(92_000.0, None, None)
    assert types(final) == ["rep.counted", "rep.counted", "set.completed", "session.completed"]
    summary = final[-1].data["summary"]
    assert final[-1].data["status"] == "completed"
    assert summary[0]["reps_done"] == 6 and summary[0]["sets_done"] == 2
    assert summary[0]["rom_min_deg"] == 70.0 and summary[0]["rom_max_deg"] == 80.0
    assert summary[0]["rom_mean_deg"] == 75.0 and summary[0]["tempo_mean_ms"] == 1750
    assert g.state is SessionState.COMPLETED
    with pytest.raises(GuideError) as err:
        g.rep(93_000.0, 1.0, 1)
    assert err.value.code == "session_ended"


def test_pausing_a_rest_keeps_the_time_left() -> None:
    g = SessionGuide(PLAN)
    g.start(0.0)
    reps(g, 3, now=1000.0)  # rest until 31 000
    g.pause(11_000.0, PauseReason.USER)
    assert g.tick(100_000.0) == []  # a paused rest does not run out
    assert types(g.resume(200_000.0)) == ["session.resumed"]
    assert g.rest_until_ms == 220_000.0 and g.state is SessionState.RESTING


def test_a_disconnect_pause_expires_after_the_grace_period() -> None:
    g = SessionGuide(PLAN)
    g.start(0.0)
    g.pause(1000.0, PauseReason.DISCONNECTED)
    assert g.tick(1000.0 + g.config.grace_ms - 1) == []
    ended = g.tick(1000.0 + g.config.grace_ms)
    assert types(ended) == ["session.abandoned"] and ended[0].data["reason"] == "pause_expired"
    assert g.outcome == "partial"


def test_skip_moves_to_the_next_exercise_and_marks_the_summary() -> None:
    g = SessionGuide(PLAN)
    g.start(0.0)
    reps(g, 1)
    assert types(g.skip(2000.0)) == ["exercise.skipped", "exercise.started"]
    assert g.current.exercise_id == "ex-b"
    assert types(g.skip(3000.0)) == ["exercise.skipped", "session.completed"]
    assert [s["skipped"] for s in g.summary()] == [True, True]
    assert g.outcome == "partial"


def test_illegal_commands_are_refused_without_changing_anything() -> None:
    g = SessionGuide(PLAN)
    g.start(0.0)
    with pytest.raises(GuideError) as err:
        g.resume(1.0)
    assert err.value.code == "illegal_transition"
    g.pause(1.0, PauseReason.USER)
    before = g.snapshot()
    calls: list[Callable[[], object]] = [
        lambda: g.rep(2.0, 1.0, 1),
        lambda: g.skip(2.0),
        lambda: g.done(2.0),
    ]
    for call in calls:
        with pytest.raises(GuideError):
            call()
    assert g.snapshot() == before
    with pytest.raises(GuideError):
        g.start(3.0)


def test_untracked_sets_end_on_done_with_the_reported_reps() -> None:
    g = SessionGuide(PLAN)
    g.start(0.0)
    events = g.done(5000.0, reps=2)
    assert types(events) == ["set.completed", "rest.started"]
    assert events[0].data["reps"] == 2 and events[0].data["duration_ms"] == 5000


def test_snapshot_and_restore_continue_exactly() -> None:
    g = SessionGuide(PLAN)
    g.start(0.0)
    reps(g, 3)
    g.pause(2000.0, PauseReason.DISCONNECTED)
    copy = SessionGuide.restore(PLAN, g.snapshot())
    assert copy.snapshot() == g.snapshot()
    assert types(copy.resume(3000.0)) == types(g.resume(3000.0))
    with pytest.raises(ValueError):
        SessionGuide.restore(PLAN, {**g.snapshot(), "v": 99})
    short = SessionPlan(PLAN.exercises[:1])
    with pytest.raises(ValueError):
        SessionGuide.restore(short, g.snapshot())


def test_ended_states_have_no_way_out() -> None:
    assert TRANSITIONS[SessionState.COMPLETED] == frozenset()
    assert TRANSITIONS[SessionState.ABANDONED] == frozenset()
    assert SessionState.ACTIVE in TRANSITIONS[SessionState.PAUSED]
