"""Segments over real patients, visits, plans and sessions: each condition of the vocabulary,
`all` / `any` and one nested group, erased patients never matching; the members endpoint (pages,
CSV, a specialist's own patients only) and the count; validation and other organizations."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from typing import Any

import pytest_asyncio

from tests.integration.automations.conftest import Client, Clinic

NEVER_VISITED_14 = {"field": "days_since_last_visit", "op": ">=", "value": 14}


@dataclass
class People:
    old: uuid.UUID  # a completed visit 30 days ago
    recent: uuid.UUID  # a completed visit 2 days ago, and one booked ahead
    never: uuid.UUID  # no visit at all, marketing consent
    on_plan: uuid.UUID  # every day for 10 days, 4 sessions done (adherence 0.4)
    fresh: uuid.UUID  # created today, no visit
    erased: uuid.UUID  # no visit, erased


@pytest_asyncio.fixture
async def people(client: Client, clinic: Clinic) -> People:
    old = await clinic.patient("Old")
    await clinic.visit(old, days_from_now=-30)
    await clinic.visit(old, days_from_now=-3, status="no_show")  # a no-show is no visit
    recent = await clinic.patient("Recent")
    await clinic.visit(recent, days_from_now=-2, status="checked_in")
    await clinic.visit(recent, days_from_now=5, status="booked")
    never = await clinic.patient("Never")
    await clinic.grant_marketing(never)
    on_plan = await clinic.patient("OnPlan")
    plan = await clinic.published_plan(client)
    await clinic.on_plan(on_plan, plan["id"], started_days_ago=9, completed=4)
    fresh = await clinic.patient("Fresh", created_days_ago=0)
    erased = await clinic.patient("Erased")
    await clinic.erase(erased)
    return People(old, recent, never, on_plan, fresh, erased)


async def _segment(client: Client, clinic: Clinic, definition: dict[str, Any]) -> str:
    resp = await client.post(
        "/v1/segments",
        json={"name": f"s-{uuid.uuid4().hex[:8]}", "definition": definition},
        headers=clinic.admin,
    )
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def _members(
    client: Client,
    clinic: Clinic,
    definition: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> set[uuid.UUID]:
    segment = await _segment(client, clinic, definition)
    resp = await client.get(f"/v1/segments/{segment}/patients", headers=headers or clinic.admin)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["next_cursor"] is None
    found = {uuid.UUID(m["id"]) for m in body["data"]}
    resp = await client.get(f"/v1/segments/{segment}/count", headers=headers or clinic.admin)
    assert resp.status == 200 and (await resp.json())["count"] == len(found)
    return found


async def test_each_condition_selects_the_right_patients(
    client: Client, clinic: Clinic, people: People
) -> None:
    p = people

    async def members(*conditions: dict[str, Any], kind: str = "all") -> set[uuid.UUID]:
        return await _members(client, clinic, {kind: list(conditions)})

    # No visit (ever counts as infinitely long ago); erased patients never match.
    assert await members(NEVER_VISITED_14) == {p.old, p.never, p.fresh}
    assert await members({"field": "days_since_last_visit", "op": "<", "value": 7}) == {
        p.recent, p.on_plan,
    }  # fmt: skip
    assert await members({"field": "days_since_last_visit", "op": "<=", "value": 30}) == {
        p.recent, p.on_plan, p.old,
    }  # fmt: skip
    assert await members({"field": "plan_adherence", "op": "<", "value": 0.5}) == {p.on_plan}
    assert await members({"field": "plan_adherence", "op": ">=", "value": 0.5}) == set()
    assert await members({"field": "has_active_plan", "op": "=", "value": True}) == {p.on_plan}
    assert await members({"field": "has_upcoming_appointment", "op": "=", "value": True}) == {
        p.recent
    }
    assert await members({"field": "has_upcoming_appointment", "op": "=", "value": False}) == {
        p.old, p.never, p.on_plan, p.fresh,
    }  # fmt: skip
    assert await members({"field": "consent_marketing", "op": "=", "value": True}) == {p.never}
    assert await members({"field": "created_within_days", "op": "<=", "value": 7}) == {p.fresh}

    # all / any, and one nested group.
    assert await members(
        NEVER_VISITED_14, {"field": "consent_marketing", "op": "=", "value": True}
    ) == {p.never}
    assert await members(
        {"field": "has_upcoming_appointment", "op": "=", "value": True},
        {"field": "plan_adherence", "op": "<", "value": 0.5},
        kind="any",
    ) == {p.recent, p.on_plan}
    assert await members(
        {"all": [NEVER_VISITED_14, {"field": "created_within_days", "op": "<=", "value": 7}]},
        {"field": "has_active_plan", "op": "=", "value": True},
        kind="any",
    ) == {p.fresh, p.on_plan}


async def test_members_page_csv_and_specialist_scope(
    client: Client, clinic: Clinic, people: People
) -> None:
    segment = await _segment(client, clinic, {"all": [NEVER_VISITED_14]})
    url = f"/v1/segments/{segment}/patients"
    first = await (await client.get(f"{url}?limit=2", headers=clinic.admin)).json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    assert set(first["data"][0]) == {"id", "first_name", "last_name", "created_at"}
    rest = await (
        await client.get(f"{url}?limit=2&cursor={first['next_cursor']}", headers=clinic.admin)
    ).json()
    ids = [m["id"] for m in first["data"] + rest["data"]]
    assert {uuid.UUID(i) for i in ids} == {people.old, people.never, people.fresh}
    assert len(ids) == 3 and rest["next_cursor"] is None

    # CSV: the whole list, a header, and a name that a spreadsheet would run as a formula
    # quoted as text.
    formula = await clinic.patient("=HYPERLINK(1)")
    resp = await client.get(url, headers={**clinic.admin, "Accept": "text/csv"})
    assert resp.status == 200 and resp.content_type == "text/csv"
    table = list(csv.reader(io.StringIO(await resp.text())))
    assert table[0] == ["id", "first_name", "last_name", "created_at"]
    by_id = {row[0]: row for row in table[1:]}
    assert set(by_id) == {str(i) for i in (people.old, people.never, people.fresh, formula)}
    assert by_id[str(formula)][2] == "'=HYPERLINK(1)"

    # A specialist sees the members they treat: here the one with an appointment with them.
    resp = await client.get(url, headers=clinic.specialist)
    assert {m["id"] for m in (await resp.json())["data"]} == {str(people.old)}
    resp = await client.get(f"/v1/segments/{segment}/count", headers=clinic.specialist)
    assert (await resp.json())["count"] == 1
    # Receptionists have no segments; specialists do not write them.
    from storage.types import Role

    assert (await client.get(url, headers=clinic.headers(Role.RECEPTIONIST))).status == 403
    resp = await client.post(
        "/v1/segments", json={"name": "x", "definition": {"all": [NEVER_VISITED_14]}},
        headers=clinic.specialist,
    )  # fmt: skip
    assert resp.status == 403


async def test_bad_definitions_conflicts_and_other_organizations(
    client: Client, clinic: Clinic, other_clinic: Clinic
) -> None:
    bad: list[Any] = [
        {"all": []},
        {"all": [NEVER_VISITED_14], "any": [NEVER_VISITED_14]},
        {"none": [NEVER_VISITED_14]},
        {"all": [{"field": "age", "op": ">=", "value": 60}]},  # date of birth is sealed
        {"all": [{"field": "consent_marketing", "op": ">", "value": True}]},
        {"all": [{"field": "plan_adherence", "op": "<", "value": 2}]},
        {"all": [{"field": "days_since_last_visit", "op": ">=", "value": "14; DROP TABLE x"}]},
        {"all": [{"any": [{"all": [NEVER_VISITED_14]}]}]},  # deeper than one nested group
    ]
    for definition in bad:
        resp = await client.post(
            "/v1/segments", json={"name": "bad", "definition": definition}, headers=clinic.admin
        )
        assert resp.status == 422, definition
        assert (await resp.json())["error"]["details"]["fields"], definition

    segment = await _segment(client, clinic, {"all": [NEVER_VISITED_14]})
    resp = await client.get(f"/v1/segments/{segment}", headers=clinic.admin)
    name = (await resp.json())["name"]
    resp = await client.post(
        "/v1/segments", json={"name": name.upper(), "definition": {"all": [NEVER_VISITED_14]}},
        headers=clinic.admin,
    )  # fmt: skip
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "name_taken"
    resp = await client.patch(
        f"/v1/segments/{segment}",
        json={"definition": {"any": [{"field": "has_active_plan", "op": "=", "value": True}]}},
        headers=clinic.admin,
    )
    assert resp.status == 200 and "any" in (await resp.json())["definition"]

    for method, path in (
        ("GET", f"/v1/segments/{segment}"),
        ("GET", f"/v1/segments/{segment}/patients"),
        ("GET", f"/v1/segments/{segment}/count"),
        ("PATCH", f"/v1/segments/{segment}"),
        ("DELETE", f"/v1/segments/{segment}"),
    ):
        resp = await client.request(
            method, path, json={"name": "mine"} if method == "PATCH" else None,
            headers=other_clinic.admin,
        )  # fmt: skip
        assert resp.status == 404, (method, path)
    resp = await client.get(f"/v1/segments/{segment}/patients", headers=other_clinic.admin)
    assert resp.status == 404

    assert (await client.delete(f"/v1/segments/{segment}", headers=clinic.admin)).status == 204
    assert (await client.get(f"/v1/segments/{segment}", headers=clinic.admin)).status == 404


async def test_the_sql_schedule_counts_as_the_telerehab_one(client: Client, clinic: Clinic) -> None:
    """`automation_scheduled_sessions` (SQL, what plan_adherence divides by) agrees with
    storage/telerehab's `scheduled_sessions` on every frequency shape and window length."""
    from datetime import date, timedelta

    from storage.telerehab import Frequency, scheduled_sessions

    frequencies = [{"per_week": 1}, {"per_week": 3}, {"per_week": 7}, {"per_week": 14},
                   {"weekdays": [1]}, {"weekdays": [1, 3, 5]}, {"weekdays": [6, 7]},
                   {"weekdays": [1, 2, 3, 4, 5, 6, 7]}]  # fmt: skip
    start = date(2026, 11, 4)  # a Wednesday
    async with clinic.db.platform() as conn:
        for frequency in frequencies:
            for days in (0, 1, 2, 5, 6, 7, 8, 13, 14, 15, 30, 61):
                last = start + timedelta(days=days - 1)
                sql = await conn.fetchval(
                    "SELECT automation_scheduled_sessions($1, $2, $3)", frequency, start, last
                )
                python = scheduled_sessions(
                    Frequency.from_json(frequency), starts_on=start, ends_on=None,
                    period_from=start, period_to=last,
                )  # fmt: skip
                assert sql == python, (frequency, days)
