"""Who sees which plan assignments (PROTOCOL.md `GET /v1/patients/{id}/plan-assignments`), and
what an assignment accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.resources import DB_KEY
from storage.types import Role
from tests.integration.telerehab.conftest import (
    Client,
    Clinic,
    assign,
    grant_care,
    published_plan,
)


async def test_list_follows_the_protocol_shape_and_pages(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-TP-007: the list carries id, plan_id, plan_version, starts_on, ends_on and
    frequency per assignment, and pages with next_cursor."""
    plan = await published_plan(client, clinic)
    made = [await assign(client, clinic, plan["id"]) for _ in range(3)]
    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        resp = await client.get(f"/v1/patients/{clinic.patients[0]}/plan-assignments{query}",
                                headers=clinic.patient())  # fmt: skip
        assert resp.status == 200
        page = await resp.json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [a["id"] for a in seen] == [a["id"] for a in made]
    first = seen[0]
    assert {"id", "plan_id", "plan_version", "starts_on", "ends_on", "frequency"} <= set(first)
    assert first["plan_id"] == plan["id"] and first["plan_version"] == 1
    assert first["frequency"] == {"weekdays": [1, 3, 5]}


async def test_patients_see_only_their_own_assignments(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-TP-008: a patient reads their own assignments and gets 404 for another
    patient's list and assignment."""
    plan = await published_plan(client, clinic)
    mine = await assign(client, clinic, plan["id"], patient=0)
    theirs = await assign(client, clinic, plan["id"], patient=1)
    me = clinic.patient(0)
    resp = await client.get(f"/v1/patients/{clinic.patients[0]}/plan-assignments", headers=me)
    assert [a["id"] for a in (await resp.json())["data"]] == [mine["id"]]
    resp = await client.get(f"/v1/patients/{clinic.patients[1]}/plan-assignments", headers=me)
    assert resp.status == 404
    assert (await client.get(f"/v1/plan-assignments/{theirs['id']}", headers=me)).status == 404
    assert (await client.get(f"/v1/plan-assignments/{mine['id']}", headers=me)).status == 200
    # Patients do not prescribe.
    resp = await client.post(f"/v1/patients/{clinic.patients[0]}/plan-assignments",
                             json={}, headers=me)  # fmt: skip
    assert resp.status == 403


async def test_specialists_see_the_assignments_of_their_patients_only(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-TP-008: a specialist sees a patient once they have an appointment with
    them or own one of the patient's assignments; receptionists and owners see none."""
    plan = await published_plan(client, clinic)
    await assign(client, clinic, plan["id"], patient=0)  # by the admin: not the specialist's
    await assign(client, clinic, plan["id"], patient=1)
    url0 = f"/v1/patients/{clinic.patients[0]}/plan-assignments"
    url1 = f"/v1/patients/{clinic.patients[1]}/plan-assignments"
    assert (await client.get(url0, headers=clinic.specialist)).status == 404
    assert (await client.get(url0, headers=clinic.admin)).status == 200
    for role in (Role.RECEPTIONIST, Role.OWNER):
        assert (await client.get(url0, headers=clinic.headers(role))).status == 403

    # The specialist may not make patient 0 theirs by assigning a plan on their own
    # (tests/security/test_clinical_channels.py); after an admin's care-team grant they may,
    # and the assignment they own keeps the patient theirs.
    await grant_care(client, clinic, patient=0)
    await assign(client, clinic, plan["id"], patient=0, headers=clinic.specialist)
    resp = await client.get(url0, headers=clinic.specialist)
    assert resp.status == 200 and len((await resp.json())["data"]) == 2

    # An appointment with the specialist makes patient 1 theirs; a cancelled one would not.
    async with client.app[DB_KEY].platform() as conn:
        service = await conn.fetchval(
            "INSERT INTO services (organization_id, name, duration_min, modality) "
            "VALUES ($1, 'Physio', 30, 'in_clinic') RETURNING id",
            clinic.org_id,
        )
        calendar = await conn.fetchval(
            "INSERT INTO calendars (organization_id, name, service_id, timezone, "
            "slot_interval_min, horizon_days) VALUES ($1, 'Cal', $2, 'UTC', 30, 30) RETURNING id",
            clinic.org_id,
            service,
        )
        start = datetime.now(UTC) + timedelta(days=2)
        appointment = await conn.fetchval(
            "INSERT INTO appointments (organization_id, calendar_id, service_id, specialist_id, "
            "patient_id, starts_at, ends_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, "
            "'cancelled') RETURNING id",
            clinic.org_id, calendar, service, clinic.specialist_id, clinic.patients[1], start,
            start + timedelta(minutes=30),
        )  # fmt: skip
    assert (await client.get(url1, headers=clinic.specialist)).status == 404
    async with client.app[DB_KEY].platform() as conn:
        await conn.execute("UPDATE appointments SET status = 'booked' WHERE id = $1", appointment)
    assert (await client.get(url1, headers=clinic.specialist)).status == 200


async def test_other_organizations_cannot_reach_assignments(
    client: Client, clinic: Clinic, other_clinic: Clinic
) -> None:
    """Verifies REQ-TP-008: another organization's admin gets 404 for the patient, the
    assignment and its records, and cannot assign to that patient."""
    plan = await published_plan(client, clinic)
    given = await assign(client, clinic, plan["id"])
    for url in (f"/v1/patients/{clinic.patients[0]}/plan-assignments",
                f"/v1/plan-assignments/{given['id']}",
                f"/v1/patients/{clinic.patients[0]}/adherence",
                f"/v1/patients/{clinic.patients[0]}/session-completions"):  # fmt: skip
        assert (await client.get(url, headers=other_clinic.admin)).status == 404, url
    resp = await client.post(
        f"/v1/patients/{clinic.patients[0]}/plan-assignments",
        json={"plan_id": plan["id"], "frequency": {"per_week": 3}, "starts_on": "2026-12-01"},
        headers=other_clinic.admin,
    )
    assert resp.status == 404


async def test_assignments_need_a_published_version_and_valid_dates(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-TP-007: a plan without a published version, a draft version, another
    patient's custom plan, a bad frequency and dates out of order are refused per field."""
    url = f"/v1/patients/{clinic.patients[0]}/plan-assignments"
    resp = await client.post("/v1/treatment-plans", json={"name": "draft only", "sessions": [
        {"exercises": [{"exercise_id": str(clinic.library["squat"]), "sets": 1, "reps": 5,
                        "rest_s": 30}]}]}, headers=clinic.admin)  # fmt: skip
    draft_only = await resp.json()
    base = {"plan_id": draft_only["id"], "frequency": {"per_week": 3}, "starts_on": "2026-12-01"}

    async def refused(body: dict[str, object], field: str) -> None:
        resp = await client.post(url, json=body, headers=clinic.admin)
        assert resp.status == 422, await resp.text()
        assert field in (await resp.json())["error"]["details"]["fields"]

    await refused(base, "plan_version")
    await refused({**base, "plan_version": 1}, "plan_version")
    plan = await published_plan(client, clinic)
    ok = {**base, "plan_id": plan["id"]}
    await refused({**ok, "frequency": {"per_week": 0}}, "frequency.per_week")
    await refused({**ok, "frequency": {"weekdays": [8]}}, "frequency.weekdays.0")
    await refused({**ok, "ends_on": "2026-11-01"}, "ends_on")
    await refused({**ok, "starts_on": "not a date"}, "starts_on")
    resp = await client.post(
        "/v1/treatment-plans",
        json={"name": "P1 only", "scope": "custom", "patient_id": str(clinic.patients[1]),
              "sessions": [{"exercises": [{"exercise_id": str(clinic.library["squat"]),
                                           "sets": 1, "reps": 5, "rest_s": 30}]}]},
        headers=clinic.admin,
    )  # fmt: skip
    other = await resp.json()
    await client.post(f"/v1/treatment-plans/{other['id']}/publish", headers=clinic.admin)
    await refused({**ok, "plan_id": other["id"]}, "plan_id")
