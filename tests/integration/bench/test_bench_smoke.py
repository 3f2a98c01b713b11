"""Every bench scenario runs end to end at tiny scale, so the suite never rots."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bench import report, server_process
from bench.runner import SCENARIOS, Options, run_scenarios
from server.settings import Settings

# One event loop for the module: the scenarios share one scratch database + server, as a quick
# `cadence bench all` does (a server start costs more than a quick scenario).
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_server() -> AsyncIterator[None]:
    server_process.share_servers()
    yield
    await server_process.close_shared()


# `chaos` starts services of its own to break them: test_chaos.py runs it.
@pytest.mark.parametrize("name", [name for name in SCENARIOS if name != "chaos"])
async def test_scenario_runs_and_holds_its_invariants(
    name: str,
    tmp_path: Path,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    shared_server: None,
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REDIS_URL", settings.redis_url)
    opts = Options(quick=True, out=tmp_path)
    results = await run_scenarios([name], opts)
    result = results[0]
    path = report.write(results, tmp_path)
    assert name in path.read_text()
    assert json.loads((tmp_path / f"{name}.json").read_text())["scenario"] == name
    if result.status == "skipped":
        pytest.skip(result.notes[0])
    assert result.ok, (result.checks, result.notes)
    assert result.figures
    assert result.goals, "every scenario names the goal its figures are judged by"
