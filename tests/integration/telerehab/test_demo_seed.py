"""The demo seed: shared global content made once, and a runnable plan for every demo patient."""

from __future__ import annotations

import uuid

from pipelines.pose import EXERCISES
from server.resources import DB_KEY
from server.seed import seed_demo
from server.telerehab.seed import DEMO_PLAN_NAME
from storage.telerehab import load_assigned_plan
from tests.integration.telerehab.conftest import Client


async def test_demo_patients_get_a_plan_the_sessions_can_run(client: Client) -> None:
    """Verifies REQ-TP-013, REQ-EX-009: two demo clinics share one copy of the ten global
    exercises and of the demo plan; every demo patient has an active assignment whose snapshot
    has sessions of tracked exercises (kinematics present) with their dosage."""
    db = client.app[DB_KEY]
    first = await seed_demo(db)
    second = await seed_demo(db)
    async with db.platform() as conn:
        counts = await conn.fetch(
            "SELECT slug, count(*) AS n FROM exercises WHERE organization_id IS NULL "
            "AND deleted_at IS NULL AND slug = ANY($1::text[]) GROUP BY slug",
            list(EXERCISES),
        )
        plans = await conn.fetchval(
            "SELECT count(*) FROM treatment_plans WHERE organization_id IS NULL AND name = $1",
            DEMO_PLAN_NAME,
        )
    assert {r["slug"]: r["n"] for r in counts} == {slug: 1 for slug in EXERCISES}
    assert plans == 1
    for demo in (first, second):
        assert demo["patients"], "the scheduling seeder makes the demo patients"
        by_patient = {a["patient_id"]: a for a in demo["plan_assignments"]}
        assert set(by_patient) == {p["id"] for p in demo["patients"]}
        org = uuid.UUID(demo["organization_id"])
        async with db.tenant(org):
            for given in by_patient.values():
                assigned = await load_assigned_plan(uuid.UUID(given["id"]))
                assert assigned.assignment.status.value == "active"
                assert assigned.session_count == 2
                for index in range(assigned.session_count):
                    exercises = assigned.exercises(index)
                    assert exercises and all(e.kinematics is not None for e in exercises)
                    assert all(e.sets >= 1 and e.reps >= 1 for e in exercises)
