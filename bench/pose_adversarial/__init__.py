"""An adversarial evaluation of the pose tracker, independent of the unit tests' generator.

``build`` makes a case from known geometry (a kinematic model of each exercise's joint angle
over time, a 3-D stick body of its own and an orthographic camera at any yaw), then corrupts them
per condition and severity (landmark noise, shallow reps, hovering and bobbing near thresholds,
spikes, left/right swaps, occlusions, frame drops, duplicated, out-of-order and jittered times,
fidgeting, a missing aspect ratio, the far limb, NaN landmarks, a clock restart, the wrong view,
standing too close). ``evaluate`` feeds them to whichever ``pipelines.pose`` is importable and
scores counts, angles, range of motion and cues per condition; ``python -m
bench.pose_adversarial`` prints the table or JSON (the bench ``pose`` scenario runs it twice: on
this tree and, for the baseline, on the previous tracker extracted from git).
"""

from ._compare import BASELINE_COMMIT, compare
from ._conditions import CONDITIONS, Condition, build
from ._evaluate import evaluate, markdown, run_case
from ._generate import Case

__all__ = [
    "BASELINE_COMMIT",
    "CONDITIONS",
    "Case",
    "Condition",
    "build",
    "compare",
    "evaluate",
    "markdown",
    "run_case",
]
