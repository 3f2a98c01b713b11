"""The demo clinic opens with a rendered session report: `cadence seed demo` records three
telerehab sessions of its first patient and stores the report of the latest, which
`GET /v1/session-completions/{id}/document` then answers without rendering again."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from server.cli import main
from server.records.demo_documents import render_demo_report
from server.resources import BLOBS_KEY, DB_KEY, SETTINGS_KEY
from server.seed import seed_demo
from storage.blobs import key_of
from tests.integration.records.documents.conftest import pdf_text
from tests.support.services import app_password

Client = TestClient[web.Request, web.Application]


def _renders() -> float:
    value = REGISTRY.get_sample_value(
        "cadence_document_renders_total", {"kind": "session_report", "outcome": "rendered"}
    )
    return value or 0.0


async def _documents(client: Client, org_id: str) -> list[dict[str, Any]]:
    async with client.app[DB_KEY].platform() as conn:
        found = await conn.fetch(
            "SELECT kind, subject_id, patient_id, blob_key, sha256, rendered_by FROM documents"
            " WHERE organization_id = $1",
            uuid.UUID(org_id),
        )
    return [dict(r.items()) for r in found]


async def test_the_demo_report_is_stored_and_answered_without_rendering_again(
    client: Client, tmp_path: Path
) -> None:
    app = client.app
    demo = await seed_demo(app[DB_KEY])
    history = demo["session_completions"]
    assert len(history) == 3
    assert [h["assignment_id"] for h in history] == [demo["plan_assignments"][0]["id"]] * 3
    assert demo["plan_assignments"][0]["patient_id"] == demo["patients"][0]["id"]

    report = await render_demo_report(app[SETTINGS_KEY], app[DB_KEY], demo)
    assert report is not None and report["completion_id"] == history[-1]["id"]

    [row] = await _documents(client, demo["organization_id"])
    assert row["kind"] == "session_report" and str(row["subject_id"]) == history[-1]["id"]
    assert str(row["patient_id"]) == demo["patients"][0]["id"]
    assert row["sha256"] == report["sha256"] and row["rendered_by"] is None  # the system
    pdf = await app[BLOBS_KEY].get(row["blob_key"])
    assert pdf.startswith(b"%PDF-") and key_of(pdf) == (row["blob_key"], report["sha256"])
    text = " ".join(pdf_text(pdf, tmp_path).split())
    for expected in (
        "Telerehab session report", demo["patients"][0]["name"], "Sit to stand", "Squat",
        "Heel raise", "Glute bridge", "Range of motion over past sessions", "Pain 3 / 10",
        "Difficulty 5 / 10", "Knee a bit stiff",
    ):  # fmt: skip
        assert expected in text, (expected, text)

    # Run again (a retried seed): found, not rendered.
    renders = _renders()
    assert await render_demo_report(app[SETTINGS_KEY], app[DB_KEY], demo) == report

    # The demo admin asks for it: the stored PDF's link, nothing rendered or recorded anew.
    admin = next(u for u in demo["users"] if u["role"] == "admin")
    login = await client.post(
        "/v1/auth/login", json={"email": admin["email"], "password": admin["password"]}
    )
    assert login.status == 200, await login.text()
    token = (await login.json())["access_token"]
    answer = await client.get(
        f"/v1/session-completions/{history[-1]['id']}/document",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status == 200, await answer.text()
    link = await answer.json()
    assert link["sha256"] == report["sha256"]
    async with client.get(link["url"]) as download:
        assert download.status == 200
        assert hashlib.sha256(await download.read()).hexdigest() == report["sha256"]
    assert _renders() == renders
    assert len(await _documents(client, demo["organization_id"])) == 1


def test_cadence_seed_demo_prints_the_stored_report(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The command itself: a new demo's printed result names its stored report."""
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CADENCE_ENV", "test")
    monkeypatch.setenv("CADENCE_DB_APP_PASSWORD", app_password())
    monkeypatch.setenv("CADENCE_BLOB_DIR", str(tmp_path / "blobs"))
    assert main(["seed", "demo"]) == 0
    demo = json.loads(capsys.readouterr().out)
    report = demo["session_report"]
    assert report["completion_id"] == demo["session_completions"][-1]["id"]

    async def stored() -> list[str]:
        conn = await asyncpg.connect(database_url)
        try:
            found = await conn.fetch(
                "SELECT sha256 FROM documents WHERE organization_id = $1 AND subject_id = $2",
                uuid.UUID(demo["organization_id"]),
                uuid.UUID(report["completion_id"]),
            )
            return [r["sha256"] for r in found]
        finally:
            await conn.close()

    assert asyncio.run(stored()) == [report["sha256"]]
    assert (tmp_path / "blobs").exists()
