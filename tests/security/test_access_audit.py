"""Issue 15, hole 15: reading a patient's clinical records leaves a trace, and an admin can list
who read them (`GET /v1/patients/{id}/access-log`).

The attack: a member of staff browses a patient's plans, progress, sessions and telemetry and
nobody can ever tell. Now every read writes an audit row (who, which record, when, from where)
in the read's own transaction, and only an admin of the patient's clinic lists them.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from server import tokens
from server.resources import DB_KEY
from storage.types import Role
from tests.integration.telerehab.conftest import (  # noqa: F401
    Client,
    Clinic,
    assign,
    clinic,
    grant_care,
    make_clinic,
    published_plan,
)


def _as(who: Clinic, role: Role, **ids: Any) -> tuple[dict[str, str], str]:
    """Headers of a token with a known user id, and that id."""
    user = uuid.uuid4()
    token = tokens.issue(who.settings.secret, role=role, org_id=who.org_id, user_id=user,
                         **ids)  # fmt: skip
    return {"Authorization": f"Bearer {token}"}, str(user)


async def _log(http: Client, who: Clinic, patient: uuid.UUID, **query: str) -> Any:
    resp = await http.get(f"/v1/patients/{patient}/access-log", params=query, headers=who.admin)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_every_read_of_a_patients_records_is_listed_with_who_and_what(
    client: Client,  # noqa: F811
    clinic: Clinic,  # noqa: F811
) -> None:
    patient = clinic.patients[0]
    plan = await published_plan(client, clinic)
    made = await assign(client, clinic, plan["id"], patient=0)
    await grant_care(client, clinic, patient=0)
    specialist, specialist_user = _as(clinic, Role.SPECIALIST, specialist_id=clinic.specialist_id)
    own, patient_user = _as(clinic, Role.PATIENT, patient_id=patient)

    reads = [
        (specialist, f"/v1/patients/{patient}/plan-assignments", "plan_assignments"),
        (specialist, f"/v1/plan-assignments/{made['id']}", "plan_assignment"),
        (specialist, f"/v1/patients/{patient}/session-completions", "session_completions"),
        (specialist, f"/v1/patients/{patient}/adherence", "adherence"),
        (specialist, f"/v1/patients/{patient}/telemetry/rom-trend", "telemetry_rom_trend"),
        (own, f"/v1/patients/{patient}/telemetry/activity", "telemetry_activity"),
    ]
    for headers, path, _ in reads:
        resp = await client.get(path, headers=headers)
        assert resp.status == 200, (path, await resp.text())

    log = await _log(client, clinic, patient)
    seen = [(e["actor"]["user_id"], e["actor"]["role"], e["record"]) for e in log["data"]]
    expected = [
        (specialist_user if h is specialist else patient_user,
         "specialist" if h is specialist else "patient", record)
        for h, _, record in reversed(reads)
    ]  # fmt: skip
    assert seen == expected
    entry = log["data"][-1]
    assert entry["record_id"] == str(patient) and entry["at"] and entry["ip"] == "127.0.0.1"
    assert log["data"][-2]["record_id"] == made["id"]
    # Patient 1's log holds none of it.
    assert (await _log(client, clinic, clinic.patients[1]))["data"] == []


async def test_a_refused_read_is_not_a_read_and_the_log_pages(
    client: Client,  # noqa: F811
    clinic: Clinic,  # noqa: F811
) -> None:
    patient = clinic.patients[1]
    outsider, outsider_user = _as(clinic, Role.SPECIALIST, specialist_id=clinic.specialist_id)
    resp = await client.get(f"/v1/patients/{patient}/plan-assignments", headers=outsider)
    assert resp.status == 404  # does not treat patient 1
    assert (await _log(client, clinic, patient))["data"] == []

    for _ in range(5):
        resp = await client.get(f"/v1/patients/{patient}/adherence", headers=clinic.admin)
        assert resp.status == 200
    first = await _log(client, clinic, patient, limit="2")
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = await _log(client, clinic, patient, limit="2", cursor=first["next_cursor"])
    third = await _log(client, clinic, patient, limit="2", cursor=second["next_cursor"])
    ids = [e["id"] for page in (first, second, third) for e in page["data"]]
    assert len(ids) == len(set(ids)) == 5 and third["next_cursor"] is None
    resp = await client.get(f"/v1/patients/{patient}/access-log?limit=0", headers=clinic.admin)
    assert resp.status == 422


async def test_only_an_admin_of_the_patients_clinic_lists_the_access_log(
    client: Client,  # noqa: F811
    clinic: Clinic,  # noqa: F811
) -> None:
    path = f"/v1/patients/{clinic.patients[0]}/access-log"
    for role in (Role.SPECIALIST, Role.RECEPTIONIST, Role.OWNER, Role.PATIENT):
        ids = {"patient_id": clinic.patients[0]} if role is Role.PATIENT else {}
        headers, _ = _as(clinic, role, **ids)
        assert (await client.get(path, headers=headers)).status == 403, role
    foreign = await make_clinic(clinic.settings, client.app[DB_KEY])
    assert (await client.get(path, headers=foreign.admin)).status == 404


async def test_the_application_cannot_erase_the_trail(
    client: Client,  # noqa: F811
    clinic: Clinic,  # noqa: F811
) -> None:
    patient = clinic.patients[0]
    resp = await client.get(f"/v1/patients/{patient}/adherence", headers=clinic.admin)
    assert resp.status == 200
    for statement in ("DELETE FROM audit_log WHERE patient_id IS NOT NULL",
                      "UPDATE audit_log SET actor_user_id = NULL"):  # fmt: skip
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with client.app[DB_KEY].tenant(clinic.org_id) as conn:
                await conn.execute(statement)
    assert len((await _log(client, clinic, patient))["data"]) == 1
