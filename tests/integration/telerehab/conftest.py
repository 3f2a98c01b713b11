"""Fixtures of the telerehab integration tests: a clinic (organization, patients, a specialist)
made on the platform path, tokens for each role, and the seeded global library."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server import tokens
from server.resources import DB_KEY
from server.settings import Settings
from server.telerehab.seed import ensure_global_exercises
from storage.db import Database
from storage.types import Role

Client = TestClient[web.Request, web.Application]


@dataclass
class Clinic:
    """One organization with two patients and a specialist, and a way to mint tokens."""

    settings: Settings
    db: Database
    org_id: uuid.UUID
    patients: list[uuid.UUID]
    specialist_id: uuid.UUID
    library: dict[str, uuid.UUID] = field(default_factory=dict)

    def headers(
        self,
        role: Role,
        *,
        patient_id: uuid.UUID | None = None,
        specialist_id: uuid.UUID | None = None,
        org: bool = True,
    ) -> dict[str, str]:
        token = tokens.issue(
            self.settings.secret,
            role=role,
            org_id=self.org_id if org else None,
            user_id=uuid.uuid4(),
            patient_id=patient_id,
            specialist_id=specialist_id,
        )
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.headers(Role.ADMIN)

    @property
    def specialist(self) -> dict[str, str]:
        return self.headers(Role.SPECIALIST, specialist_id=self.specialist_id)

    def patient(self, index: int = 0) -> dict[str, str]:
        return self.headers(Role.PATIENT, patient_id=self.patients[index])

    @property
    def superadmin(self) -> dict[str, str]:
        return self.headers(Role.SUPERADMIN, org=False)


async def make_clinic(settings: Settings, db: Database, *, language: str = "en") -> Clinic:
    async with db.platform() as conn:
        org_id = await conn.fetchval(
            "INSERT INTO organizations (name, slug, language) VALUES ($1, $2, $3) RETURNING id",
            "Telerehab test clinic",
            f"tr-{secrets.token_hex(5)}",
            language,
        )
        patients = [
            await conn.fetchval(
                "INSERT INTO patients (organization_id, first_name, last_name) "
                "VALUES ($1, 'Test', $2) RETURNING id",
                org_id,
                f"Patient{i}",
            )
            for i in range(2)
        ]
        specialist_id = await conn.fetchval(
            "INSERT INTO specialists (organization_id, name, timezone) "
            "VALUES ($1, 'Dr Test', 'UTC') RETURNING id",
            org_id,
        )
        library = await ensure_global_exercises(conn)
    return Clinic(settings, db, org_id, patients, specialist_id, library)


@pytest_asyncio.fixture
async def clinic(client: Client, settings: Settings) -> Clinic:
    return await make_clinic(settings, client.app[DB_KEY])


@pytest_asyncio.fixture
async def other_clinic(client: Client, settings: Settings) -> Clinic:
    return await make_clinic(settings, client.app[DB_KEY])


def plan_body(clinic: Clinic, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Knee plan {secrets.token_hex(3)}",
        "sessions": [
            {
                "name": "A",
                "exercises": [
                    {"exercise_id": str(clinic.library["squat"]), "sets": 3, "reps": 10,
                     "rest_s": 60},
                    {"exercise_id": str(clinic.library["heel_raise"]), "sets": 2, "reps": 12,
                     "rest_s": 30, "hold_s": 1},
                ],
            }
        ],
    }  # fmt: skip
    body.update(overrides)
    return body


async def published_plan(client: Client, clinic: Clinic, **overrides: Any) -> dict[str, Any]:
    """An organization plan with version 1 published; returns the plan JSON."""
    resp = await client.post("/v1/treatment-plans", json=plan_body(clinic, **overrides),
                             headers=clinic.admin)  # fmt: skip
    assert resp.status == 201, await resp.text()
    plan = await resp.json()
    resp = await client.post(f"/v1/treatment-plans/{plan['id']}/publish", headers=clinic.admin)
    assert resp.status == 200, await resp.text()
    return dict(plan)


async def assign(
    client: Client,
    clinic: Clinic,
    plan_id: str,
    *,
    patient: int = 0,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    body = {"plan_id": plan_id, "frequency": {"weekdays": [1, 3, 5]},
            "starts_on": today.isoformat(), "ends_on": (today + timedelta(weeks=4)).isoformat(),
            **extra}  # fmt: skip
    resp = await client.post(
        f"/v1/patients/{clinic.patients[patient]}/plan-assignments",
        json=body,
        headers=dict(headers or clinic.admin),
    )
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def grant_care(client: Client, clinic: Clinic, *, patient: int = 0) -> None:
    """An admin puts the clinic's specialist on the patient's care team (what lets a specialist
    prescribe for a patient they have no appointment with)."""
    resp = await client.post(
        f"/v1/patients/{clinic.patients[patient]}/care-team",
        json={"specialist_id": str(clinic.specialist_id)},
        headers=clinic.admin,
    )
    assert resp.status in (200, 201), await resp.text()
