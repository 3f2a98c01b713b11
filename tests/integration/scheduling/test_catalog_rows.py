"""The catalog resources over storage's row kit: soft and hard deletes, partial updates, pages
in creation order, who sees which patient, and the demo seed's scheduling rows."""

from __future__ import annotations

import uuid

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from server.seed import seed_demo
from storage.rfc3339 import parse_instant
from storage.types import Role
from tests.integration.scheduling.conftest import Api

Client = TestClient[web.Request, web.Application]


async def test_a_deleted_service_is_gone_from_the_api_but_kept_inactive(
    api: Api, client: Client
) -> None:
    kept, gone = await api.service(name="Kept"), await api.service(name="Gone")
    await api.ok("DELETE", f"/v1/services/{gone['id']}", expect=204)
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        status, _ = await api.call(method, f"/v1/services/{gone['id']}", body)
        assert status == 404, method
    listed = await api.ok("GET", "/v1/services")
    assert [s["id"] for s in listed["data"]] == [kept["id"]]
    async with client.app[DB_KEY].platform() as conn:
        row = await conn.fetchrow(
            "SELECT active, deleted_at FROM services WHERE id = $1", uuid.UUID(gone["id"])
        )
    assert row is not None and row["active"] is False and row["deleted_at"] is not None


async def test_a_deleted_specialty_is_removed(api: Api, client: Client) -> None:
    specialty = await api.ok("POST", "/v1/specialties", {"name": "Sports"}, expect=201)
    await api.ok("DELETE", f"/v1/specialties/{specialty['id']}", expect=204)
    status, _ = await api.call("DELETE", f"/v1/specialties/{specialty['id']}")
    assert status == 404
    async with client.app[DB_KEY].platform() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM specialties WHERE id = $1", uuid.UUID(specialty["id"])
        )
    assert count == 0


async def test_a_patch_changes_the_given_fields_only_and_moves_updated_at(api: Api) -> None:
    service = await api.service(name="Before", duration_min=40)
    patched = await api.ok("PATCH", f"/v1/services/{service['id']}", {"name": "After"})
    assert patched["name"] == "After" and patched["duration_min"] == 40
    assert patched["price"] == service["price"] and patched["created_at"] == service["created_at"]
    assert parse_instant(patched["updated_at"]) > parse_instant(service["updated_at"])
    again = await api.ok("GET", f"/v1/services/{service['id']}")
    assert again == patched


async def test_pages_follow_creation_order_skip_deleted_rows_and_check_the_cursor(
    api: Api,
) -> None:
    made = [(await api.service(name=f"S{i}"))["id"] for i in range(5)]
    await api.ok("DELETE", f"/v1/services/{made[2]}", expect=204)
    seen, cursor = [], None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = await api.ok("GET", f"/v1/services?limit=2{suffix}")
        assert len(page["data"]) <= 2
        seen += [s["id"] for s in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [made[0], made[1], made[3], made[4]]
    for bad in ("WzFd", "not-a-cursor"):  # [1]: a list of the wrong shape; then garbage
        status, body = await api.call("GET", f"/v1/services?cursor={bad}")
        assert status == 422 and "cursor" in body["error"]["details"]["fields"], bad


async def test_patients_are_seen_by_the_front_desk_their_clinicians_and_themselves(
    api: Api,
) -> None:
    first, second, third = [await api.patient("Pat", name) for name in ("One", "Two", "Three")]
    front = await api.ok("GET", "/v1/patients?limit=2", role=Role.RECEPTIONIST)
    rest = await api.ok("GET", f"/v1/patients?cursor={front['next_cursor']}")
    assert [p["id"] for p in front["data"] + rest["data"]] == [first, second, third]
    assert rest["next_cursor"] is None

    specialist = (
        await api.ok("POST", "/v1/specialists", {"name": "Dr", "timezone": "UTC"}, expect=201)
    )["id"]
    grant = {"specialist_id": specialist}
    await api.ok("POST", f"/v1/patients/{second}/care-team", grant, expect=201)
    sid = uuid.UUID(specialist)
    listed = await api.ok("GET", "/v1/patients", role=Role.SPECIALIST, specialist_id=sid)
    assert [p["id"] for p in listed["data"]] == [second]
    one = await api.ok("GET", f"/v1/patients/{second}", role=Role.SPECIALIST, specialist_id=sid)
    assert one["id"] == second
    status, _ = await api.call(
        "GET", f"/v1/patients/{first}", role=Role.SPECIALIST, specialist_id=sid
    )
    assert status == 404
    unlinked = await api.ok("GET", "/v1/patients", role=Role.SPECIALIST)  # no `sid` claim
    assert unlinked["data"] == []

    pid = uuid.UUID(third)
    me = await api.ok("GET", f"/v1/patients/{third}", role=Role.PATIENT, patient_id=pid)
    assert me["id"] == third
    status, _ = await api.call("GET", f"/v1/patients/{first}", role=Role.PATIENT, patient_id=pid)
    assert status == 404


async def test_a_deleted_patient_is_hidden_but_still_exportable(api: Api) -> None:
    patient = await api.patient("Del", "Eted", email="del@example.com")
    await api.ok("DELETE", f"/v1/patients/{patient}", role=Role.RECEPTIONIST, expect=204)
    for path in (f"/v1/patients/{patient}", f"/v1/patients/{patient}/cancellations"):
        status, _ = await api.call("GET", path)
        assert status == 404, path
    assert (await api.ok("GET", "/v1/patients"))["data"] == []
    assert (await api.ok("GET", "/v1/patients?q=del@example.com"))["data"] == []
    # Privacy rights outlive the front desk's delete: the export still finds the record.
    exported = await api.ok("GET", f"/v1/patients/{patient}/export")
    (row,) = exported["tables"]["patients"]
    assert row["id"] == patient and row["email"] == "del@example.com"


async def test_the_demo_seed_links_its_logins_and_records_paper_consents(client: Client) -> None:
    db = client.app[DB_KEY]
    demo = await seed_demo(db)
    org = uuid.UUID(demo["organization_id"])
    linked = [u for u in demo["users"] if u["role"] in ("specialist", "patient")]
    assert len(linked) == 4
    async with db.platform() as conn:
        for user in linked:
            column = f"{user['role']}_id"
            table = "specialists" if user["role"] == "specialist" else "patients"
            target = uuid.UUID(user[column])
            owner = await conn.fetchval(f"SELECT user_id FROM {table} WHERE id = $1", target)
            assert str(owner) == user["user_id"]
            member = await conn.fetchval(
                f"SELECT {column} FROM memberships WHERE organization_id = $1 AND user_id = $2",
                org,
                uuid.UUID(user["user_id"]),
            )
            assert member == target
        consents = await conn.fetch(
            "SELECT p.consent_telerehab, c.channel FROM patients p"
            " JOIN patient_consents c ON c.patient_id = p.id WHERE p.organization_id = $1",
            org,
        )
        audited = await conn.fetch(
            "SELECT entity, count(*) AS n FROM audit_log WHERE organization_id = $1"
            " AND actor_role = 'system' AND action LIKE '%.create' GROUP BY entity",
            org,
        )
        hours = await conn.fetchval(
            "SELECT count(*) FROM specialist_hours WHERE organization_id = $1", org
        )
    assert len(consents) == 4
    assert all(r["consent_telerehab"] and r["channel"] == "paper" for r in consents)
    counts = {r["entity"]: r["n"] for r in audited}
    assert {k: counts.get(k) for k in ("service", "specialist", "calendar", "patient")} == {
        "service": 4,  # two one-to-one services, the group class, shockwave (room + device)
        "specialist": 3,
        "calendar": 4,
        "patient": 4,
    }
    assert hours == 5 * (1 + 2 + 1)  # Mon-Fri, the demo specialists' intervals
