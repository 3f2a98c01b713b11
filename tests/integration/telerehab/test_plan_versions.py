"""Treatment plan versions: immutable published snapshots, the draft -> published -> archived
machine, per-field refusal of invalid plans, and assignments that keep their snapshot."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from server.resources import DB_KEY
from storage.types import Role
from tests.integration.telerehab.conftest import (
    Client,
    Clinic,
    assign,
    grant_care,
    plan_body,
    published_plan,
)


def digest(snapshot: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(snapshot, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def assignment(client: Client, clinic: Clinic, assignment_id: str) -> dict[str, Any]:
    resp = await client.get(f"/v1/plan-assignments/{assignment_id}", headers=clinic.patient())
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def org_exercise(client: Client, clinic: Clinic) -> dict[str, Any]:
    resp = await client.post(
        f"/v1/exercises/{clinic.library['glute_bridge']}/clone", headers=clinic.admin
    )
    assert resp.status == 201
    return dict(await resp.json())


async def test_assignment_keeps_its_snapshot_through_edit_clone_and_reassign(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-TP-001, REQ-TP-003, REQ-TP-004: the assignment shows the prescribed
    exercises with their exact dosage and definition; after the plan is edited and republished,
    renamed, cloned, the library exercise changed and retired, and the patient reassigned, the
    first assignment still answers the very same snapshot (same digest, recomputable)."""
    own = await org_exercise(client, clinic)
    body = plan_body(clinic)
    body["sessions"][0]["exercises"].append(
        {"exercise_id": own["id"], "sets": 2, "reps": 8, "rest_s": 45, "hold_s": 2}
    )
    plan = await published_plan(client, clinic, **body)
    first = await assign(client, clinic, plan["id"])
    assert first["plan_version"] == 1
    before = await assignment(client, clinic, first["id"])
    items = before["plan"]["sessions"][0]["exercises"]
    assert [(i["sets"], i["reps"], i["rest_s"], i["hold_s"]) for i in items] == [
        (3, 10, 60, 0), (2, 12, 30, 1), (2, 8, 45, 2)]  # fmt: skip
    assert items[0]["exercise"]["name"] == "Squat"
    assert items[0]["exercise"]["kinematics"]["driving"]["vertex"] == 25
    assert before["snapshot_digest"] == digest(before["plan"])

    # Edit: a new draft (version 2), published; version 1 is archived, not changed.
    edited = plan_body(clinic)["sessions"]
    edited[0]["exercises"][0]["sets"] = 5
    resp = await client.put(f"/v1/treatment-plans/{plan['id']}/draft",
                            json={"sessions": edited}, headers=clinic.admin)  # fmt: skip
    assert (await resp.json())["version"] == 2
    resp = await client.post(f"/v1/treatment-plans/{plan['id']}/publish", headers=clinic.admin)
    assert resp.status == 200
    resp = await client.patch(f"/v1/treatment-plans/{plan['id']}", json={"name": "Renamed"},
                              headers=clinic.admin)  # fmt: skip
    assert resp.status == 200
    # The library changes under it: the organization's exercise is edited, then retired.
    resp = await client.patch(f"/v1/exercises/{own['id']}", json={"name": "Changed bridge"},
                              headers=clinic.admin)  # fmt: skip
    assert resp.status == 200
    assert (await client.delete(f"/v1/exercises/{own['id']}", headers=clinic.admin)).status == 204
    # Clone it for the patient, publish the clone, and reassign the patient to it.
    await grant_care(client, clinic, patient=0)
    resp = await client.post(
        f"/v1/treatment-plans/{plan['id']}/clone",
        json={"scope": "custom", "patient_id": str(clinic.patients[0]), "version": 1},
        headers=clinic.specialist,
    )
    assert resp.status == 422  # version 1 uses the retired exercise: it cannot seed a new draft
    resp = await client.post(
        f"/v1/treatment-plans/{plan['id']}/clone",
        json={"scope": "custom", "patient_id": str(clinic.patients[0])},
        headers=clinic.specialist,
    )
    assert resp.status == 201, await resp.text()
    custom = await resp.json()
    assert custom["source_version"] == 2
    resp = await client.post(f"/v1/treatment-plans/{custom['id']}/publish",
                             headers=clinic.specialist)  # fmt: skip
    assert resp.status == 200
    second = await assign(client, clinic, custom["id"], replaces=first["id"],
                          headers=clinic.specialist)  # fmt: skip
    assert second["replaces_id"] == first["id"]

    after = await assignment(client, clinic, first["id"])
    assert after["plan"] == before["plan"]
    assert after["snapshot_digest"] == before["snapshot_digest"] == digest(after["plan"])
    assert after["plan_version"] == 1 and after["plan_version_id"] == first["plan_version_id"]
    assert after["status"] == "ended"
    resp = await client.get(f"/v1/treatment-plans/{plan['id']}/versions/1", headers=clinic.admin)
    v1 = await resp.json()
    assert v1["status"] == "archived" and v1["snapshot"] == before["plan"]


async def test_the_database_refuses_to_change_a_published_version(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-TP-003, REQ-TP-004: even the platform path cannot edit or delete a published
    snapshot, reopen an archived one, or repoint an assignment at another version."""
    plan = await published_plan(client, clinic)
    given = await assign(client, clinic, plan["id"])
    db = client.app[DB_KEY]
    statements = [
        "UPDATE treatment_plan_versions SET content = '{\"sessions\": []}' WHERE plan_id = $1",
        "UPDATE treatment_plan_versions SET snapshot = '{}' WHERE plan_id = $1",
        "DELETE FROM treatment_plan_versions WHERE plan_id = $1",
    ]
    for sql in statements:
        with pytest.raises(asyncpg.IntegrityConstraintViolationError):
            async with db.platform() as conn:
                await conn.execute(sql, uuid_of(plan))
    await client.put(f"/v1/treatment-plans/{plan['id']}/draft",
                            json={"sessions": plan_body(clinic)["sessions"]},
                            headers=clinic.admin)  # fmt: skip
    await client.post(f"/v1/treatment-plans/{plan['id']}/publish", headers=clinic.admin)
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        async with db.platform() as conn:
            await conn.execute(
                "UPDATE treatment_plan_versions SET status = 'published' "
                "WHERE plan_id = $1 AND version = 1",
                uuid_of(plan),
            )
    with pytest.raises(asyncpg.IntegrityConstraintViolationError):
        async with db.platform() as conn:
            await conn.execute(
                "UPDATE plan_assignments SET plan_version = 2, plan_version_id = "
                "(SELECT id FROM treatment_plan_versions WHERE plan_id = $2 AND version = 2) "
                "WHERE id = $1",
                uuid_of(given),
                uuid_of(plan),
            )


def uuid_of(obj: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(obj["id"])


async def test_versions_move_draft_published_archived(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-TP-012: publishing needs a draft (409 otherwise); saving after a publish
    starts version n+1; each publish archives the previous published version."""
    plan = await published_plan(client, clinic)
    resp = await client.post(f"/v1/treatment-plans/{plan['id']}/publish", headers=clinic.admin)
    assert resp.status == 409
    sessions = plan_body(clinic)["sessions"]
    for expected in (2, 2):  # saving twice edits the same draft
        resp = await client.put(f"/v1/treatment-plans/{plan['id']}/draft",
                                json={"sessions": sessions}, headers=clinic.admin)  # fmt: skip
        assert (await resp.json())["version"] == expected
    await client.post(f"/v1/treatment-plans/{plan['id']}/publish", headers=clinic.admin)
    resp = await client.get(f"/v1/treatment-plans/{plan['id']}", headers=clinic.specialist)
    detail = await resp.json()
    assert [(v["version"], v["status"]) for v in detail["versions"]] == [
        (1, "archived"), (2, "published")]  # fmt: skip
    assert detail["published_version"] == 2 and detail["draft"] is None


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b, x: b["sessions"][0]["exercises"][0].update(exercise_id=x), "exercise_id"),
        (lambda b, x: b["sessions"][0]["exercises"][0].update(sets=0), "sets"),
        (lambda b, x: b["sessions"][0]["exercises"][0].update(rest_s=-5), "rest_s"),
        (lambda b, x: b["sessions"][0]["exercises"][0].update(reps="ten"), "reps"),
        (lambda b, x: b["sessions"][0].update(exercises=[]), "sessions.0.exercises"),
        (lambda b, x: b.update(sessions=[]), "sessions"),
    ],
    ids=["unknown_exercise", "zero_sets", "negative_rest", "reps_not_a_number",
         "empty_session", "no_sessions"],
)  # fmt: skip
async def test_invalid_plans_are_refused_per_field(
    client: Client, clinic: Clinic, mutate: Any, field: str
) -> None:
    """Verifies REQ-TP-005: unknown exercise, zero sets, negative rest and malformed sessions
    are refused with 422 naming the offending field; on create and on draft save alike."""
    plan = await published_plan(client, clinic)
    for method, url in (("post", "/v1/treatment-plans"),
                        ("put", f"/v1/treatment-plans/{plan['id']}/draft")):  # fmt: skip
        body = plan_body(clinic)
        mutate(body, str(uuid.uuid4()))
        if method == "put":
            body = {"sessions": body["sessions"]}
        resp = await getattr(client, method)(url, json=body, headers=clinic.admin)
        assert resp.status == 422, await resp.text()
        fields = (await resp.json())["error"]["details"]["fields"]
        assert any(k.endswith(field) for k in fields), fields


async def test_another_organizations_exercise_is_an_unknown_exercise(
    client: Client, clinic: Clinic, other_clinic: Clinic
) -> None:
    """Verifies REQ-TP-005, REQ-EX-002: a plan cannot reference an exercise of another
    organization (it is invisible, hence unknown)."""
    foreign = await org_exercise(client, other_clinic)
    body = plan_body(clinic)
    body["sessions"][0]["exercises"][1]["exercise_id"] = foreign["id"]
    resp = await client.post("/v1/treatment-plans", json=body, headers=clinic.admin)
    assert resp.status == 422
    fields = (await resp.json())["error"]["details"]["fields"]
    assert fields == {"sessions.0.exercises.1.exercise_id": "unknown exercise"}


async def test_three_scopes_and_who_writes_them(
    client: Client, clinic: Clinic, other_clinic: Clinic
) -> None:
    """Verifies REQ-TP-002: global plans are made by a superadmin and read (not written) by
    every organization; organization plans stay in their organization; custom plans belong to
    one patient and are listed only for that patient."""
    resp = await client.post("/v1/treatment-plans", json=plan_body(clinic, scope="global"),
                             headers=clinic.admin)  # fmt: skip
    assert resp.status == 403
    resp = await client.post("/v1/treatment-plans", json=plan_body(clinic),
                             headers=clinic.superadmin)  # fmt: skip
    assert resp.status == 201, await resp.text()
    global_plan = await resp.json()
    assert global_plan["scope"] == "global"
    await client.post(f"/v1/treatment-plans/{global_plan['id']}/publish", headers=clinic.superadmin)
    for c in (clinic, other_clinic):
        resp = await client.get(f"/v1/treatment-plans/{global_plan['id']}", headers=c.admin)
        assert resp.status == 200
        resp = await client.patch(f"/v1/treatment-plans/{global_plan['id']}",
                                  json={"name": "mine now"}, headers=c.admin)  # fmt: skip
        assert resp.status == 403
    # Any organization may assign a global plan.
    await assign(client, other_clinic, global_plan["id"])

    org_plan = await published_plan(client, clinic)
    resp = await client.get(f"/v1/treatment-plans/{org_plan['id']}", headers=other_clinic.admin)
    assert resp.status == 404

    resp = await client.post("/v1/treatment-plans", json=plan_body(clinic, scope="custom"),
                             headers=clinic.admin)  # fmt: skip
    assert resp.status == 422 and "patient_id" in (await resp.json())["error"]["details"]["fields"]
    patient = str(clinic.patients[1])
    resp = await client.post(
        "/v1/treatment-plans",
        json=plan_body(clinic, scope="custom", patient_id=patient),
        headers=clinic.admin,
    )
    custom = await resp.json()
    resp = await client.get("/v1/treatment-plans?limit=200", headers=clinic.admin)
    listed = {p["id"] for p in (await resp.json())["data"]}
    assert org_plan["id"] in listed and global_plan["id"] in listed
    assert custom["id"] not in listed
    resp = await client.get(f"/v1/treatment-plans?scope=custom&patient_id={patient}",
                            headers=clinic.admin)  # fmt: skip
    assert [p["id"] for p in (await resp.json())["data"]] == [custom["id"]]
    # The specialist has no relation to that patient: the custom plan is not theirs to see.
    resp = await client.get(f"/v1/treatment-plans/{custom['id']}", headers=clinic.specialist)
    assert resp.status == 404


async def test_clone_personalizes_and_promotes_between_scopes(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-TP-006: global -> organization -> custom clones; a custom plan is promoted
    to the organization; promotion to global is a superadmin's and needs global exercises."""
    resp = await client.post("/v1/treatment-plans", json=plan_body(clinic),
                             headers=clinic.superadmin)  # fmt: skip
    global_plan = await resp.json()
    await client.post(f"/v1/treatment-plans/{global_plan['id']}/publish", headers=clinic.superadmin)
    resp = await client.post(f"/v1/treatment-plans/{global_plan['id']}/clone",
                             json={"scope": "organization"}, headers=clinic.admin)  # fmt: skip
    assert resp.status == 201, await resp.text()
    org_copy = await resp.json()
    assert org_copy["scope"] == "organization" and org_copy["source_plan_id"] == global_plan["id"]
    assert org_copy["draft"]["content"]["sessions"] == (
        await (await client.get(f"/v1/treatment-plans/{global_plan['id']}/versions/1",
                                headers=clinic.admin)).json()
    )["content"]["sessions"]  # fmt: skip

    await grant_care(client, clinic, patient=0)
    resp = await client.post(
        f"/v1/treatment-plans/{org_copy['id']}/clone",
        json={"scope": "custom", "patient_id": str(clinic.patients[0]), "name": "For P0"},
        headers=clinic.specialist,
    )
    custom = await resp.json()
    assert custom["scope"] == "custom" and custom["patient_id"] == str(clinic.patients[0])
    resp = await client.post(f"/v1/treatment-plans/{custom['id']}/clone",
                             json={"scope": "organization",
                                   "name": f"Promoted {secrets.token_hex(2)}"},
                             headers=clinic.admin)  # fmt: skip
    assert resp.status == 201 and (await resp.json())["scope"] == "organization"

    resp = await client.post(f"/v1/treatment-plans/{org_copy['id']}/clone",
                             json={"scope": "global"}, headers=clinic.admin)  # fmt: skip
    assert resp.status == 403
    superadmin_here = clinic.headers(Role.SUPERADMIN)
    resp = await client.post(f"/v1/treatment-plans/{org_copy['id']}/clone",
                             json={"scope": "global"}, headers=superadmin_here)  # fmt: skip
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["scope"] == "global"

    own = await org_exercise(client, clinic)
    body = plan_body(clinic)
    body["sessions"][0]["exercises"][0]["exercise_id"] = own["id"]
    with_own = await published_plan(client, clinic, **body)
    resp = await client.post(f"/v1/treatment-plans/{with_own['id']}/clone",
                             json={"scope": "global"}, headers=superadmin_here)  # fmt: skip
    assert resp.status == 422
    fields = (await resp.json())["error"]["details"]["fields"]
    assert fields == {
        "source.sessions.0.exercises.0.exercise_id": "a global plan may use global exercises only"
    }
