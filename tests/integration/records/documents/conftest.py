"""Documents fixtures: a clinic in Bucharest's time zone with the global exercise library, two
patients, a specialist with an appointment with the first (so treating them), a published plan
assigned to the first patient with three sessions done (range of motion rising), the last one's
questionnaire answered, and helpers to read PDFs with poppler's tools."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from server.settings import Settings
from storage.types import Role
from tests.integration.telerehab.conftest import Clinic, assign, make_clinic, published_plan

Client = TestClient[web.Request, web.Application]


@dataclass
class World:
    client: Client
    clinic: Clinic
    plan: dict[str, Any]
    completions: list[str]  # oldest first
    appointment: uuid.UUID

    def headers(self, who: str) -> dict[str, str]:
        """ "admin", "specialist", "receptionist", "patient0", "patient1"."""
        if who == "specialist":
            return self.clinic.specialist
        if who.startswith("patient"):
            return self.clinic.patient(int(who[-1]))
        return self.clinic.headers(Role(who))

    async def get(self, path: str, who: str) -> tuple[int, Any, web.StreamResponse | Any]:
        async with self.client.get(path, headers=self.headers(who)) as answer:
            body = await answer.json() if answer.content_type == "application/json" else None
            return answer.status, body, answer

    async def download(self, url: str) -> bytes:
        """The bytes behind a document link (no credentials: the link is the credential)."""
        async with self.client.get(url) as answer:
            assert answer.status == 200, await answer.text()
            assert answer.headers["Content-Type"].startswith("application/pdf")
            return await answer.read()


def _completion(clinic: Clinic, at: datetime, squat_rom: float) -> dict[str, Any]:
    return {
        "session_index": 0,
        "started_at": (at - timedelta(minutes=20)).isoformat(),
        "completed_at": at.isoformat(),
        "exercises": [
            {"position": 0, "exercise_id": str(clinic.library["squat"]), "sets_done": 3,
             "reps_done": 30, "duration_s": 400, "rom_min_deg": squat_rom - 10,
             "rom_mean_deg": squat_rom, "rom_max_deg": squat_rom + 8, "pain": 2},
            {"position": 1, "exercise_id": str(clinic.library["heel_raise"]), "sets_done": 2,
             "reps_done": 24, "duration_s": 300},
        ],
    }  # fmt: skip


async def make_world(client: Client, settings: Settings) -> World:
    clinic = await make_clinic(settings, client.app[DB_KEY])
    async with client.app[DB_KEY].platform() as conn:  # the schema owner: set-up only
        await conn.execute(
            "UPDATE organizations SET name = 'Clinica Mișcarea', timezone = 'Europe/Bucharest'"
            " WHERE id = $1",
            clinic.org_id,
        )
        service = await conn.fetchval(
            "INSERT INTO services (organization_id, name, duration_min, modality)"
            " VALUES ($1, 'Knee assessment', 45, 'in_clinic') RETURNING id",
            clinic.org_id,
        )
        calendar = await conn.fetchval(
            "INSERT INTO calendars (organization_id, name, service_id, timezone,"
            " slot_interval_min, horizon_days) VALUES ($1, 'Cal', $2, 'UTC', 45, 30) RETURNING id",
            clinic.org_id,
            service,
        )
        starts = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        appointment = await conn.fetchval(
            "INSERT INTO appointments (organization_id, calendar_id, service_id, specialist_id,"
            " patient_id, starts_at, ends_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7,"
            " 'booked') RETURNING id",
            clinic.org_id, calendar, service, clinic.specialist_id, clinic.patients[0], starts,
            starts + timedelta(minutes=45),
        )  # fmt: skip
    plan = await published_plan(client, clinic)
    given = await assign(client, clinic, plan["id"])
    done = []
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(days=14)
    for n, rom in enumerate((62.0, 71.0, 80.5)):
        resp = await client.post(
            f"/v1/plan-assignments/{given['id']}/completions",
            json=_completion(clinic, first + timedelta(days=7 * n), rom),
            headers=clinic.patient(),
        )
        assert resp.status == 201, await resp.text()
        done.append((await resp.json())["id"])
    resp = await client.post(
        f"/v1/session-completions/{done[-1]}/questionnaire",
        json={"pain": 3, "difficulty": 6, "note": "Stiff <knee> in the morning"},
        headers=clinic.patient(),
    )
    assert resp.status == 201, await resp.text()
    return World(client, clinic, plan, done, appointment)


@pytest_asyncio.fixture
async def world(client: Client, settings: Settings) -> World:
    return await make_world(client, settings)


def pdf_text(pdf: bytes, tmp: Path) -> str:
    """The PDF's text as poppler's pdftotext reads it (layout kept, so table rows stay lines)."""
    path = tmp / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return out.stdout.decode("utf-8")


def pdf_png(pdf: bytes, tmp: Path, name: str = "page") -> Path:
    """The first page as a PNG (poppler's pdftoppm); the path of the image."""
    path = tmp / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(path),
         str(tmp / name)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return tmp / f"{name}.png"
