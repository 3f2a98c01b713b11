"""The hysteresis rep counter: full reps only, once each, whatever happens near a threshold."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from pipelines.pose import Direction, RepCounter, RepPhase, RepRules, TempoVerdict
from pipelines.pose._reps import IllegalTransition, Rep

SQUAT = RepRules(
    Direction.FLEXION, enter_deg=100.0, exit_deg=160.0, tempo_min_ms=1000.0, tempo_max_ms=8000.0
)
SHOULDER = RepRules(
    Direction.EXTENSION,
    enter_deg=130.0,
    exit_deg=45.0,
    tempo_min_ms=1000.0,
    tempo_max_ms=8000.0,
    hold_ms=1000.0,
)


def curve(
    *keys: tuple[float, float], fps: float = 30.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Piecewise-linear angle through (seconds from the previous key, angle) keyframes."""
    key_t = np.cumsum([k[0] for k in keys]) * 1000.0
    key_a = [k[1] for k in keys]
    t = np.arange(0.0, key_t[-1] + 1.0, 1000.0 / fps)
    return t, np.interp(t, key_t, key_a)


def count(
    rules: RepRules, t: npt.NDArray[np.float64], angle: npt.NDArray[np.float64]
) -> tuple[RepCounter, list[Rep]]:
    counter = RepCounter(rules)
    reps = [r for ti, a in zip(t, angle, strict=True) if (r := counter.step(ti, a)) is not None]
    return counter, reps


def squats(n: int, bottom: float = 90.0, secs: float = 1.5) -> list[tuple[float, float]]:
    keys = [(0.0, 170.0)]
    for _ in range(n):
        keys += [(0.5, 170.0), (secs, bottom), (secs, 170.0)]
    return keys + [(0.5, 170.0)]


def test_full_reps_count_once_each_with_range_and_duration() -> None:
    counter, reps = count(SQUAT, *curve(*squats(3)))
    assert [r.number for r in reps] == [1, 2, 3] and counter.count == 3
    for rep in reps:
        assert rep.rom_deg == pytest.approx(80.0, abs=1.0)
        # Outside the rest zone (above 160 is rest): 2 x 1.5 s x (70 / 80) of the way.
        assert rep.duration_ms == pytest.approx(2625.0, abs=70.0)
        assert rep.tempo is TempoVerdict.OK


def test_partial_reps_that_miss_the_enter_threshold_count_nothing() -> None:
    counter, reps = count(SQUAT, *curve(*squats(1, bottom=110.0), *squats(1)[1:]))
    assert counter.count == 1 and counter.partials == 1


def test_going_deeper_twice_before_standing_up_is_one_rep() -> None:
    keys = [(0, 170.0), (1, 170.0), (1, 90.0), (1, 130.0), (1, 90.0), (1, 170.0), (1, 170.0)]
    assert count(SQUAT, *curve(*keys))[0].count == 1


def wobble(threshold: float) -> list[tuple[float, float]]:
    return [(0.15, threshold + d) for d in (-5.0, 5.0) * 6]


def test_dither_around_the_enter_threshold_on_the_way_down_counts_once() -> None:
    keys = [(0, 170.0), (1, 170.0), (1, 100.0), *wobble(100.0), (0.5, 90.0), (1.5, 170.0)]
    assert count(SQUAT, *curve(*keys, (1, 170.0)))[0].count == 1


def test_dither_around_the_exit_threshold_on_the_way_up_counts_once() -> None:
    keys = [(0, 170.0), (1, 170.0), (1.5, 90.0), (1, 160.0), *wobble(160.0), (0.5, 170.0)]
    assert count(SQUAT, *curve(*keys, (1, 170.0)))[0].count == 1


def test_dither_around_the_exit_threshold_at_rest_counts_nothing() -> None:
    keys = [(0, 170.0), (1, 160.0), *wobble(160.0), (1, 170.0)]
    counter, _ = count(SQUAT, *curve(*keys))
    assert counter.count == 0 and counter.partials > 0


def test_jitter_while_standing_counts_nothing() -> None:
    t = np.arange(0.0, 20000.0, 1000.0 / 30)
    angle = 160.0 + np.random.default_rng(4).normal(0.0, 3.0, len(t))
    assert count(SQUAT, t, angle)[0].count == 0


def test_a_one_frame_spike_does_not_count() -> None:
    t, angle = curve((0, 170.0), (2, 170.0))
    angle[30] = 80.0
    assert count(SQUAT, t, angle)[0].count == 0


def test_long_pauses_at_the_top_and_bottom_change_nothing() -> None:
    keys = [(0, 170.0), (5, 170.0), (1.5, 90.0), (6, 90.0), (1.5, 170.0), (8, 170.0)]
    _, reps = count(SQUAT, *curve(*keys))
    assert len(reps) == 1
    assert reps[0].hold_ms == pytest.approx(6000.0 + 2 * 1500.0 * 10 / 80, abs=70.0)
    assert reps[0].tempo is TempoVerdict.TOO_SLOW


def test_a_set_that_starts_mid_rep_waits_for_the_rest_position() -> None:
    keys = [(0, 90.0), (1.5, 170.0), (1, 170.0), (1.5, 90.0), (1.5, 170.0), (1, 170.0)]
    counter, _ = count(SQUAT, *curve(*keys))
    assert counter.count == 1


def test_tempo_verdicts() -> None:
    _, fast = count(SQUAT, *curve(*squats(1, secs=0.4)))
    _, slow = count(SQUAT, *curve(*squats(1, secs=5.0)))
    assert fast[0].tempo is TempoVerdict.TOO_FAST
    assert slow[0].tempo is TempoVerdict.TOO_SLOW


def test_extension_exercises_count_up_then_down_and_check_the_hold() -> None:
    keys = [(0, 20.0), (1, 20.0), (1.5, 150.0), (1.5, 150.0), (1.5, 20.0), (1, 20.0)]
    keys += [(1.5, 150.0), (0.1, 150.0), (1.5, 20.0), (1, 20.0)]
    _, reps = count(SHOULDER, *curve(*keys))
    assert [r.hold_ok for r in reps] == [True, False]
    assert reps[0].rom_deg == pytest.approx(130.0, abs=0.5)


def test_the_transition_table_refuses_illegal_moves() -> None:
    counter = RepCounter(SQUAT)
    assert counter.phase is RepPhase.UNARMED
    with pytest.raises(IllegalTransition):
        counter._go(RepPhase.TURN)


def test_abandon_drops_the_rep_in_progress_but_keeps_the_count() -> None:
    t, angle = curve(*squats(2))
    counter = RepCounter(SQUAT)
    middle = int(np.argmin(np.abs(t - 5500.0)))  # second rep, at the bottom
    for ti, a in zip(t[:middle], angle[:middle], strict=True):
        counter.step(ti, a)
    assert (counter.count, counter.phase) == (1, RepPhase.TURN)  # no narrowing: step() moves it
    counter.abandon()
    for ti, a in zip(t[middle:], angle[middle:], strict=True):
        counter.step(ti, a)
    assert counter.count == 1 and counter.phase is RepPhase.REST


def test_snapshot_restore_mid_rep_counts_like_an_uninterrupted_run() -> None:
    t, angle = curve(*squats(4))
    whole, reps = count(SQUAT, t, angle)
    cut = len(t) // 2 + 7
    first = RepCounter(SQUAT)
    for ti, a in zip(t[:cut], angle[:cut], strict=True):
        first.step(ti, a)
    second = RepCounter(SQUAT)
    second.restore(first.snapshot())
    rest = [r for ti, a in zip(t[cut:], angle[cut:], strict=True) if (r := second.step(ti, a))]
    assert second.count == whole.count == 4
    assert rest == [r for r in reps if r.t_ms >= t[cut]]


def test_a_movement_back_at_rest_counts_when_the_look_back_finds_its_turn() -> None:
    """The smoothed angle stopped short (110, the enter threshold is 100), but the caller's
    look back over the raw samples found the turn past it: one rep, no partial; asked with the
    time the movement left rest."""
    t, angle = curve(*squats(1, bottom=110.0))
    asked: list[float] = []

    def seen(since_ms: float) -> bool:
        asked.append(since_ms)
        return True

    counter = RepCounter(SQUAT)
    reps = [
        r for ti, a in zip(t, angle, strict=True) if (r := counter.step(ti, a, turn_check=seen))
    ]
    assert counter.count == 1 and counter.partials == 0 and len(reps) == 1
    assert len(asked) == 1 and 500.0 <= asked[0] <= 1000.0  # 160 is crossed at 0.75 s
    assert reps[0].hold_ms == 0.0


def test_a_movement_back_at_rest_is_a_partial_when_the_look_back_finds_no_turn() -> None:
    t, angle = curve(*squats(2, bottom=110.0))
    counter = RepCounter(SQUAT)
    for ti, a in zip(t, angle, strict=True):
        assert counter.step(ti, a, turn_check=lambda since_ms: False) is None
    assert counter.count == 0 and counter.partials == 2


def test_the_look_back_is_not_asked_about_reps_seen_past_the_threshold() -> None:
    t, angle = curve(*squats(2))
    counter = RepCounter(SQUAT)

    def never(since_ms: float) -> bool:
        raise AssertionError("asked about a rep the smoothed angle saw turn")

    reps = [
        r for ti, a in zip(t, angle, strict=True) if (r := counter.step(ti, a, turn_check=never))
    ]
    assert len(reps) == 2
