"""`cadence bench chaos --quick`: one of each fault (kill -9 of a calendar shard and of a
telemetry ingest actor, Redis and PostgreSQL restarted, kill -9 of a replica behind HAProxy)
during a clinic day on services of the scenario's own, and its checker finds no double booking,
no lost confirmed booking, no silent event gap and no lost or doubled telemetry row, with the
service back after every fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report
from bench.runner import Options, run_scenarios


async def test_a_clinic_day_under_faults_keeps_every_invariant(tmp_path: Path) -> None:
    results = await run_scenarios(["chaos"], Options(quick=True, out=tmp_path))
    result = results[0]
    report.write(results, tmp_path)
    saved = json.loads((tmp_path / "chaos.json").read_text())
    if result.status == "skipped":
        pytest.skip(result.notes[0])
    assert result.ok, (result.checks, result.notes)
    faults = saved["parameters"]["faults"]
    assert {f["kind"] for f in faults} == {
        "calendar_actor", "ingest_actor", "redis", "postgres", "replica"
    }  # fmt: skip
    # Each fault was injected and the service came back (the scenario's bound: 60 s, generous
    # on purpose; the bench reports the actual times).
    for fault in faults:
        assert not fault["how"].startswith("not injected"), fault
        assert None not in (fault["hold_s"], fault["telemetry_s"], fault["subscribers_s"]), fault
    assert result.figures["bookings_kept"] > 0
    assert result.figures["telemetry_rows_acked"] > 0
    assert result.figures["events_received"] > 0
