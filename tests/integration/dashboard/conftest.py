"""Dashboard fixtures: the app with a clock the test moves (the snapshot's refresh reads it),
and a clinic with specialists, a calendar and patients, written as the schema owner."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp import web

from server.app import create_app
from server.dashboard.routes import CLOCK_KEY
from server.resources import DB_KEY
from server.settings import Settings
from tests.support.consumers import ManualClock

# 06:00 in the clinic (Europe/Bucharest, UTC+2 in March): the day runs until 22:00Z.
DAY_START = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DAY_START)


@pytest.fixture
def app(settings: Settings, clock: ManualClock) -> web.Application:
    app = create_app(settings)
    app[CLOCK_KEY] = clock
    return app


@dataclass(frozen=True)
class World:
    org: uuid.UUID
    service: uuid.UUID
    calendar: uuid.UUID
    specialists: list[uuid.UUID]
    patients: list[uuid.UUID]


async def make_world(app: web.Application, *, specialists: int, patients: int) -> World:
    async with app[DB_KEY].platform() as conn:
        org = await conn.fetchval(
            "INSERT INTO organizations (name, slug, timezone)"
            " VALUES ('Clinic', $1, 'Europe/Bucharest') RETURNING id",
            "d-" + uuid.uuid4().hex[:12],
        )
        service = await conn.fetchval(
            "INSERT INTO services (organization_id, name, duration_min, modality)"
            " VALUES ($1, 'Physio', 15, 'in_clinic') RETURNING id",
            org,
        )
        calendar = await conn.fetchval(
            "INSERT INTO calendars (organization_id, name, service_id, timezone, public,"
            " slot_interval_min, horizon_days)"
            " VALUES ($1, 'Cal', $2, 'Europe/Bucharest', true, 15, 30) RETURNING id",
            org,
            service,
        )
        specs = [
            await conn.fetchval(
                "INSERT INTO specialists (organization_id, name, timezone)"
                " VALUES ($1, $2, 'UTC') RETURNING id",
                org,
                f"Spec {i}",
            )
            for i in range(specialists)
        ]
        people = [
            await conn.fetchval(
                "INSERT INTO patients (organization_id, first_name, last_name)"
                " VALUES ($1, 'Pat', $2) RETURNING id",
                org,
                f"Ient {i}",
            )
            for i in range(patients)
        ]
    return World(org, service, calendar, specs, people)
