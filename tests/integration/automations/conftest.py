"""A clinic for the automations tests: an organization with a specialist, a service and a
calendar, tokens per role, and set-up writes of patients, visits, plans and sessions made as the
schema owner (each test states the patients it needs)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    settings: Settings
    db: Database
    org_id: uuid.UUID
    specialist_id: uuid.UUID
    service_id: uuid.UUID
    calendar_id: uuid.UUID
    library: dict[str, uuid.UUID]

    def headers(self, role: Role, *, specialist_id: uuid.UUID | None = None) -> dict[str, str]:
        token = tokens.issue(
            self.settings.secret,
            role=role,
            org_id=self.org_id,
            user_id=uuid.uuid4(),
            specialist_id=specialist_id,
        )
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return self.headers(Role.ADMIN)

    @property
    def specialist(self) -> dict[str, str]:
        return self.headers(Role.SPECIALIST, specialist_id=self.specialist_id)

    async def patient(
        self, last_name: str = "Patient", *, created_days_ago: int = 60, first_name: str = "Test"
    ) -> uuid.UUID:
        async with self.db.platform() as conn:
            found: uuid.UUID = await conn.fetchval(
                """INSERT INTO patients (organization_id, first_name, last_name, created_at)
                   VALUES ($1, $2, $3, now() - make_interval(days => $4)) RETURNING id""",
                self.org_id, first_name, last_name, created_days_ago,
            )  # fmt: skip
        return found

    async def visit(
        self, patient_id: uuid.UUID, *, days_from_now: float, status: str = "completed"
    ) -> uuid.UUID:
        """An appointment with the clinic's specialist, `days_from_now` (negative: past)."""
        start = datetime.now(UTC) + timedelta(days=days_from_now)
        async with self.db.platform() as conn:
            found: uuid.UUID = await conn.fetchval(
                """INSERT INTO appointments (organization_id, calendar_id, service_id,
                                             specialist_id, patient_id, starts_at, ends_at, status)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
                self.org_id, self.calendar_id, self.service_id, self.specialist_id, patient_id,
                start, start + timedelta(minutes=30), status,
            )  # fmt: skip
        return found

    async def erase(self, patient_id: uuid.UUID) -> None:
        async with self.db.platform() as conn:
            await conn.execute("UPDATE patients SET erased_at = now() WHERE id = $1", patient_id)

    async def grant_marketing(self, patient_id: uuid.UUID) -> None:
        async with self.db.platform() as conn:
            await conn.execute(
                """INSERT INTO patient_consents (organization_id, patient_id, purpose,
                                                 policy_version, granted, channel)
                   VALUES ($1, $2, 'marketing', 'test', true, 'paper')""",
                self.org_id,
                patient_id,
            )

    async def published_plan(self, client: Client) -> dict[str, Any]:
        """An organization plan with version 1 published (through the API)."""
        body = {
            "name": f"Knee plan {secrets.token_hex(3)}",
            "sessions": [{"name": "A", "exercises": [
                {"exercise_id": str(self.library["squat"]), "sets": 3, "reps": 10,
                 "rest_s": 60}]}],
        }  # fmt: skip
        resp = await client.post("/v1/treatment-plans", json=body, headers=self.admin)
        assert resp.status == 201, await resp.text()
        plan: dict[str, Any] = await resp.json()
        resp = await client.post(f"/v1/treatment-plans/{plan['id']}/publish", headers=self.admin)
        assert resp.status == 200, await resp.text()
        return plan

    async def on_plan(
        self, patient_id: uuid.UUID, plan_id: str, *, started_days_ago: int, completed: int
    ) -> uuid.UUID:
        """An active assignment of the plan, every day (`per_week: 7`) since `started_days_ago`
        days, with `completed` sessions done (the latest one a day ago)."""
        today = datetime.now(UTC).date()
        async with self.db.platform() as conn:
            version = await conn.fetchrow(
                "SELECT id, version FROM treatment_plan_versions WHERE plan_id = $1 "
                "AND status = 'published'",
                uuid.UUID(plan_id),
            )
            assignment: uuid.UUID = await conn.fetchval(
                """INSERT INTO plan_assignments (organization_id, patient_id, plan_id,
                       plan_version_id, plan_version, specialist_id, frequency, starts_on)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
                self.org_id, patient_id, uuid.UUID(plan_id), version["id"], version["version"],
                self.specialist_id, {"per_week": 7}, today - timedelta(days=started_days_ago),
            )  # fmt: skip
            for i in range(completed):
                done = datetime.now(UTC) - timedelta(days=1 + i)
                await conn.execute(
                    """INSERT INTO session_completions (organization_id, patient_id,
                           assignment_id, plan_version_id, session_index, source, status,
                           started_at, completed_at, duration_s)
                       VALUES ($1, $2, $3, $4, 0, 'manual', 'completed', $5, $5, 600)""",
                    self.org_id, patient_id, assignment, version["id"], done,
                )  # fmt: skip
        return assignment


async def make_clinic(settings: Settings, db: Database) -> Clinic:
    async with db.platform() as conn:
        org_id = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id",
            f"auto-{secrets.token_hex(5)}",
        )
        specialist_id = await conn.fetchval(
            "INSERT INTO specialists (organization_id, name, timezone) "
            "VALUES ($1, 'Dr Test', 'UTC') RETURNING id",
            org_id,
        )
        service_id = await conn.fetchval(
            "INSERT INTO services (organization_id, name, duration_min, modality) "
            "VALUES ($1, 'Physio', 30, 'in_clinic') RETURNING id",
            org_id,
        )
        calendar_id = await conn.fetchval(
            "INSERT INTO calendars (organization_id, name, service_id, timezone, "
            "slot_interval_min, horizon_days) VALUES ($1, 'Cal', $2, 'UTC', 30, 30) RETURNING id",
            org_id,
            service_id,
        )
        library = await ensure_global_exercises(conn)
    return Clinic(settings, db, org_id, specialist_id, service_id, calendar_id, library)


@pytest_asyncio.fixture
async def clinic(client: Client, settings: Settings) -> Clinic:
    return await make_clinic(settings, client.app[DB_KEY])


@pytest_asyncio.fixture
async def other_clinic(client: Client, settings: Settings) -> Clinic:
    return await make_clinic(settings, client.app[DB_KEY])


def today() -> date:
    return datetime.now(UTC).date()
