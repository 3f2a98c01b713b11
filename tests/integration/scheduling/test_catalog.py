"""Catalog and people over REST: shapes, validation, tenancy, roles, audit, paging."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from storage.types import Role
from tests.integration.scheduling.conftest import Api


async def test_specialist_lifecycle_with_specialties_hours_and_overrides(api: Api) -> None:
    specialty = await api.ok("POST", "/v1/specialties", {"name": "Sports"}, expect=201)
    created = await api.ok(
        "POST",
        "/v1/specialists",
        {
            "name": "Ana",
            "timezone": "Europe/Bucharest",
            "specialty_ids": [specialty["id"]],
        },
        expect=201,
    )
    sid = created["id"]
    assert created["specialty_ids"] == [specialty["id"]] and created["active"] is True

    hours = {
        "hours": [
            {"weekday": 1, "start": "08:00", "end": "12:00"},
            {"weekday": 1, "start": "13:00", "end": "24:00"},
        ]
    }
    put = await api.ok("PUT", f"/v1/specialists/{sid}/weekly-hours", hours)
    assert put["hours"] == hours["hours"]
    override = await api.ok(
        "POST", f"/v1/specialists/{sid}/overrides", {"date": "2030-01-07", "hours": []}, expect=201
    )
    assert override == {"date": "2030-01-07", "hours": [], "day_off": True}
    await api.ok(
        "POST",
        f"/v1/specialists/{sid}/overrides",
        {"date": "2030-01-07", "hours": [{"start": "10:00", "end": "11:00"}]},
        expect=201,
    )
    listed = await api.ok("GET", f"/v1/specialists/{sid}/overrides")
    assert listed["data"] == [
        {"date": "2030-01-07", "day_off": False, "hours": [{"start": "10:00", "end": "11:00"}]}
    ]

    patched = await api.ok("PATCH", f"/v1/specialists/{sid}", {"name": "Ana M.", "active": False})
    assert patched["name"] == "Ana M." and patched["active"] is False
    status, _ = await api.call("DELETE", f"/v1/specialists/{sid}")
    assert status == 204
    status, body = await api.call("GET", f"/v1/specialists/{sid}")
    assert status == 404 and body["error"]["code"] == "not_found"


async def test_invalid_catalog_input_answers_422_per_field(api: Api) -> None:
    status, body = await api.call("POST", "/v1/specialists", {"name": "X", "timezone": "Mars/Base"})
    assert status == 422 and "timezone" in body["error"]["details"]["fields"]
    sid = await api.specialist()
    overlapping = {
        "hours": [
            {"weekday": 2, "start": "08:00", "end": "12:00"},
            {"weekday": 2, "start": "11:00", "end": "13:00"},
        ]
    }
    status, body = await api.call("PUT", f"/v1/specialists/{sid}/weekly-hours", overlapping)
    assert status == 422 and "hours" in body["error"]["details"]["fields"]
    status, body = await api.call(
        "PUT",
        f"/v1/specialists/{sid}/weekly-hours",
        {"hours": [{"weekday": 8, "start": "8", "end": "25:00"}]},
    )
    assert status == 422
    status, body = await api.call("POST", "/v1/services", {"name": "S", "duration_min": 0})
    assert status == 422 and "duration_min" in body["error"]["details"]["fields"]
    service = await api.service()
    both = {
        "name": "C",
        "service_id": service["id"],
        "timezone": "UTC",
        "horizon_days": 5,
        "period": {"start": "2030-01-01", "end": "2030-01-31"},
    }
    status, body = await api.call("POST", "/v1/calendars", both)
    assert status == 422 and "period" in body["error"]["details"]["fields"]
    ghost = {"name": "C", "service_id": "00000000-0000-4000-8000-000000000000", "timezone": "UTC"}
    status, body = await api.call("POST", "/v1/calendars", ghost)
    assert status == 422 and "service_id" in body["error"]["details"]["fields"]
    status, body = await api.call(
        "POST", "/v1/patients", {"first_name": "A", "last_name": "B", "email": "not-an-email"}
    )
    assert status == 422 and "email" in body["error"]["details"]["fields"]
    status, _ = await api.call("GET", "/v1/services?limit=0")
    assert status == 422
    status, _ = await api.call("GET", "/v1/services?cursor=garbage")
    assert status == 422


async def test_calendar_create_defaults_and_patch_of_rules_and_members(api: Api) -> None:
    a, b = await api.specialist("A"), await api.specialist("B")
    service = await api.service(duration_min=45)
    body = {
        "name": "Campaign",
        "service_id": service["id"],
        "timezone": "Europe/Bucharest",
        "period": {"start": "2030-03-01", "end": "2030-03-31"},
        "specialists": [
            {"id": a, "priority": 2, "hours": [{"weekday": 1, "start": "09:00", "end": "12:00"}]}
        ],
    }
    created = await api.ok("POST", "/v1/calendars", body, expect=201)
    assert created["slot_interval_min"] == 45  # defaults to the service's duration
    assert created["period"] == {"start": "2030-03-01", "end": "2030-03-31"}
    assert created["horizon_days"] is None and created["hold_ttl_s"] == 600
    assert created["public"] is False and created["assignment"] == "priority"
    assert created["specialists"] == [
        {"id": a, "priority": 2, "hours": [{"weekday": 1, "start": "09:00", "end": "12:00"}]}
    ]
    patched = await api.ok(
        "PATCH",
        f"/v1/calendars/{created['id']}",
        {
            "horizon_days": 14,
            "assignment": "round_robin",
            "daily_cap": 4,
            "hours": [{"weekday": 5, "start": "08:00", "end": "16:00"}],
            "specialists": [{"id": b}, {"id": a, "priority": 1}],
        },
    )
    assert patched["period"] is None and patched["horizon_days"] == 14
    assert [m["id"] for m in patched["specialists"]] == [b, a]
    assert patched["daily_cap"] == 4 and patched["hours"][0]["weekday"] == 5


async def test_foreign_organization_ids_are_not_found(api: Api, other: Api) -> None:
    sid = await api.specialist()
    service = await api.service()
    calendar = await api.calendar([sid], service["id"])
    patient = await api.patient()
    for path in (
        f"/v1/specialists/{sid}",
        f"/v1/services/{service['id']}",
        f"/v1/calendars/{calendar['id']}",
        f"/v1/patients/{patient}",
        f"/v1/calendars/{calendar['id']}/slots",
    ):
        status, body = await other.call("GET", path)
        assert status == 404, path
    status, _ = await other.call("PATCH", f"/v1/services/{service['id']}", {"name": "mine"})
    assert status == 404
    # A foreign specialist cannot be put into one's own calendar either.
    own_service = await other.service()
    status, _ = await other.call(
        "POST",
        "/v1/calendars",
        {
            "name": "x",
            "service_id": own_service["id"],
            "timezone": "UTC",
            "specialists": [{"id": sid}],
        },
    )
    assert status == 422
    listed = await other.ok("GET", "/v1/specialists")
    assert listed["data"] == []


async def test_roles_are_enforced_per_route(api: Api) -> None:
    status, _ = await api.call(
        "POST", "/v1/services", {"name": "S", "duration_min": 30}, role=Role.RECEPTIONIST
    )
    assert status == 403
    status, _ = await api.call("GET", "/v1/patients", role=Role.OWNER)
    assert status == 403
    status, _ = await api.call("GET", "/v1/services", role=Role.OWNER)
    assert status == 200
    status, _ = await api.call(
        "POST", "/v1/patients", {"first_name": "A", "last_name": "B"}, role=Role.SPECIALIST
    )
    assert status == 403
    status, _ = await api.call("GET", "/v1/schedule/grid?date=2030-01-01", role=Role.PATIENT)
    assert status == 403


async def test_every_mutation_writes_one_audit_row_with_masked_patient_fields(
    api: Api, client: TestClient[web.Request, web.Application]
) -> None:
    patient = await api.patient("Secret", "Person", email="s@example.com")
    await api.ok(
        "PATCH", f"/v1/patients/{patient}", {"phone": "+40 700 000 000"}, role=Role.RECEPTIONIST
    )
    async with client.app[DB_KEY].platform() as conn:
        rows = await conn.fetch(
            "SELECT action, actor_role, diff, request_id FROM audit_log"
            " WHERE entity = 'patient' AND entity_id = $1 ORDER BY created_at",
            patient,
        )
    assert [r["action"] for r in rows] == ["patient.create", "patient.update"]
    assert rows[0]["actor_role"] == "receptionist" and rows[0]["request_id"]
    assert rows[0]["diff"]["first_name"]["after"] == "***"
    assert rows[1]["diff"] == {"phone": {"before": None, "after": "***"}}


async def test_lists_are_paged_with_a_cursor(api: Api) -> None:
    names = [f"Specialty {i}" for i in range(5)]
    for name in names:
        await api.ok("POST", "/v1/specialties", {"name": name}, expect=201)
    seen, cursor = [], None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = await api.ok("GET", f"/v1/specialties?limit=2{suffix}")
        seen += [s["name"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == names
    status, body = await api.call("POST", "/v1/specialties", {"name": "specialty 0"})
    assert status == 409 and body["error"]["code"] == "conflict"
