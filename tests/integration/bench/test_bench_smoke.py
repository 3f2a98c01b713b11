"""Every bench scenario runs end to end at tiny scale, so the suite never rots."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report
from bench.runner import SCENARIOS, Options, run_scenarios
from server.settings import Settings


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_runs_and_holds_its_invariants(
    name: str, tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    opts = Options(quick=True, out=tmp_path)
    results = await run_scenarios([name], opts)
    assert results[0].ok, results[0].checks
    assert results[0].figures
    path = report.write(results, tmp_path)
    assert name in path.read_text()
