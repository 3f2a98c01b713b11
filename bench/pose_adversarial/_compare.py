"""This tracker and the previous one on the same adversarial set, in the same run.

The previous tracker is not kept in the tree: its ``pipelines/`` is extracted read-only from git
(``git archive BASELINE_COMMIT pipelines``) into a temporary directory, and the evaluation runs
in a subprocess whose ``sys.path`` puts that copy before this tree's. Both evaluations run at
once, each in a process of its own, and write their figures as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BASELINE_COMMIT = "7608a0b"  # the tracker issue 20 was filed against
ROOT = Path(__file__).resolve().parents[2]


def extract(commit: str, into: Path) -> None:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "pipelines"],
        check=True,
        capture_output=True,
        timeout=120,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, timeout=120)


async def _evaluate(sets: int, seed: int, pipelines_from: Path | None, out: Path) -> None:
    env = dict(os.environ)
    cwd = ROOT
    if pipelines_from is not None:
        # cwd first on sys.path with -m: the old copy's directory, then this tree for bench/
        cwd = pipelines_from
        env["PYTHONPATH"] = os.pathsep.join([str(pipelines_from), str(ROOT)])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.pose_adversarial", "--sets", str(sets), "--seed",
        str(seed), "--json", str(out), cwd=str(cwd), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"adversarial evaluation failed: {err.decode()[-2000:]}")


async def compare(sets: int, seed: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """(this tracker's figures, the previous tracker's figures)."""
    with tempfile.TemporaryDirectory(prefix="pose-baseline-") as tmp:
        base = Path(tmp)
        old_tree = base / "tree"
        old_tree.mkdir()
        await asyncio.to_thread(extract, BASELINE_COMMIT, old_tree)
        new_out, old_out = base / "new.json", base / "old.json"
        await asyncio.gather(
            _evaluate(sets, seed, None, new_out), _evaluate(sets, seed, old_tree, old_out)
        )
        new = json.loads(new_out.read_text(encoding="utf-8"))
        old = json.loads(old_out.read_text(encoding="utf-8"))
    return new, old
