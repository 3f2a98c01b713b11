"""The exercise library over REST: dual scope, superadmin-only global writes, clone, soft delete,
translations, and kinematic validation on write."""

from __future__ import annotations

import copy
import secrets
from typing import Any

from pipelines.pose import EXERCISES
from tests.integration.telerehab.conftest import Client, Clinic


def new_exercise(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Wall squat {secrets.token_hex(3)}",
        "category": "strength",
        "body_region": "knee",
        "difficulty": "beginner",
        "equipment": ["wall"],
        "tags": ["quadriceps"],
        "instructions": ["Lean against a wall.", "Slide down.", "Slide up."],
        "contraindications": ["Acute knee pain"],
        "kinematics": EXERCISES["squat"].kinematics.to_dict(),
    }
    body.update(overrides)
    return body


async def list_all(
    client: Client, headers: dict[str, str], query: str = ""
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url = f"/v1/exercises?limit=5{query}"
    cursor = None
    while True:
        resp = await client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=headers)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        items += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_every_role_reads_global_exercises_and_the_contraindications(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-EX-001, REQ-EX-002, REQ-EX-009: each organization role (and superadmin) sees
    the ten seeded global exercises, each listed with its contraindications."""
    for headers in (clinic.admin, clinic.specialist, clinic.patient(), clinic.superadmin):
        items = await list_all(client, headers, "&scope=global")
        slugs = {item["slug"] for item in items}
        assert set(EXERCISES) <= slugs
        for item in items:
            if item["slug"] in EXERCISES:
                assert item["scope"] == "global"
                assert item["contraindications"], item["slug"]
                assert item["tracked"] is True


async def test_organization_exercises_are_invisible_to_other_organizations(
    client: Client, clinic: Clinic, other_clinic: Clinic
) -> None:
    """Verifies REQ-EX-002: an organization's exercise is listed and readable in its own
    organization only; another organization gets 404 for its id and cannot change it."""
    resp = await client.post("/v1/exercises", json=new_exercise(), headers=clinic.specialist)
    assert resp.status == 201, await resp.text()
    mine = await resp.json()
    assert mine["scope"] == "organization"

    own = {e["id"] for e in await list_all(client, clinic.patient())}
    assert mine["id"] in own
    foreign = {e["id"] for e in await list_all(client, other_clinic.admin)}
    assert mine["id"] not in foreign
    for method in ("get", "patch", "delete"):
        kwargs: dict[str, Any] = {"headers": other_clinic.admin}
        if method == "patch":
            kwargs["json"] = {"name": "taken over"}
        resp = await getattr(client, method)(f"/v1/exercises/{mine['id']}", **kwargs)
        assert resp.status == 404, method
    # The superadmin's library is the global one only.
    assert mine["id"] not in {e["id"] for e in await list_all(client, clinic.superadmin)}


async def test_only_superadmin_writes_global_exercises(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-EX-003: admins and specialists get 403 for global exercises (create, change,
    delete); a superadmin creates, changes and retires them."""
    squat = clinic.library["squat"]
    for headers in (clinic.admin, clinic.specialist):
        resp = await client.patch(f"/v1/exercises/{squat}", json={"name": "x"}, headers=headers)
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "read_only"
        resp = await client.delete(f"/v1/exercises/{squat}", headers=headers)
        assert resp.status == 403
        resp = await client.post("/v1/exercises", json=new_exercise(scope="global"),
                                 headers=headers)  # fmt: skip
        assert resp.status == 403
    for headers in (clinic.patient(),):
        resp = await client.post("/v1/exercises", json=new_exercise(), headers=headers)
        assert resp.status == 403

    resp = await client.post("/v1/exercises", json=new_exercise(), headers=clinic.superadmin)
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["scope"] == "global"
    resp = await client.get(f"/v1/exercises/{created['id']}", headers=clinic.patient())
    assert resp.status == 200
    resp = await client.patch(f"/v1/exercises/{created['id']}", json={"difficulty": "advanced"},
                              headers=clinic.superadmin)  # fmt: skip
    assert resp.status == 200 and (await resp.json())["difficulty"] == "advanced"
    resp = await client.delete(f"/v1/exercises/{created['id']}", headers=clinic.superadmin)
    assert resp.status == 204


async def test_detail_includes_the_kinematic_definition(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-EX-005: the detail carries driving-angle landmark triples, thresholds,
    target range of motion, tempo, camera view and form rules with thresholds and cues."""
    resp = await client.get(f"/v1/exercises/{clinic.library['shoulder_abduction']}",
                            headers=clinic.patient())  # fmt: skip
    assert resp.status == 200
    body = await resp.json()
    k = body["kinematics"]
    assert k == EXERCISES["shoulder_abduction"].kinematics.to_dict()
    assert body["driving_angles"] == [
        {"landmarks": [23, 11, 13], "side": "left"},
        {"landmarks": [24, 12, 14], "side": "right"},
    ]
    assert k["enter_deg"] > k["exit_deg"] and k["target_rom_deg"] > 0
    assert k["view"] == "front" and k["tempo_ms"]["min"] < k["tempo_ms"]["max"]
    assert all(r["threshold_deg"] > 0 and r["message"] for r in k["form_rules"])
    assert body["instructions"]


async def test_invalid_kinematics_are_refused_per_field(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-EX-004: unknown landmark indices, thresholds out of order and an empty
    hysteresis band are refused with 422, each under its own field path."""
    bad = copy.deepcopy(EXERCISES["squat"].kinematics.to_dict())
    bad["driving"]["vertex"] = 40  # MediaPipe has 33 landmarks
    bad["enter_deg"], bad["exit_deg"] = 160.0, 100.0  # flexion: enter must be below exit
    bad["tempo_ms"] = {"min": 5000, "max": 1000}
    resp = await client.post("/v1/exercises", json=new_exercise(kinematics=bad),
                             headers=clinic.admin)  # fmt: skip
    assert resp.status == 422
    fields = (await resp.json())["error"]["details"]["fields"]
    assert "kinematics.driving.vertex" in fields
    assert "kinematics.enter_deg" in fields
    assert "kinematics.tempo_ms" in fields

    narrow = copy.deepcopy(EXERCISES["squat"].kinematics.to_dict())
    narrow["enter_deg"], narrow["exit_deg"] = 120.0, 121.0  # a 1-degree band is no hysteresis
    resp = await client.post("/v1/exercises", json=new_exercise(kinematics=narrow),
                             headers=clinic.admin)  # fmt: skip
    assert resp.status == 422
    assert "kinematics.exit_deg" in (await resp.json())["error"]["details"]["fields"]

    resp = await client.post("/v1/exercises", json=new_exercise(category="yoga"),
                             headers=clinic.admin)  # fmt: skip
    assert resp.status == 422
    assert "category" in (await resp.json())["error"]["details"]["fields"]


async def test_clone_bakes_the_translation_into_the_organization_copy(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-EX-006, REQ-EX-008: global text is read in the requested language (falling
    back to the base text), and a clone is the organization's own row with that text, its
    source recorded, editable by the organization."""
    squat = clinic.library["squat"]
    resp = await client.get(f"/v1/exercises/{squat}?lang=ro", headers=clinic.admin)
    translated = await resp.json()
    assert translated["name"] == "Genuflexiune" and translated["language"] == "ro"
    assert translated["instructions"]  # not translated: the base text is the fallback
    resp = await client.get(f"/v1/exercises/{squat}?lang=de", headers=clinic.admin)
    assert (await resp.json())["name"] == "Squat"

    resp = await client.post(f"/v1/exercises/{squat}/clone?lang=ro", headers=clinic.specialist)
    assert resp.status == 201, await resp.text()
    clone = await resp.json()
    assert clone["scope"] == "organization" and clone["name"] == "Genuflexiune"
    assert clone["source_exercise_id"] == str(squat)
    assert clone["kinematics"] == translated["kinematics"]
    resp = await client.patch(f"/v1/exercises/{clone['id']}", json={"name": "Genuflexiune lentă"},
                              headers=clinic.admin)  # fmt: skip
    assert resp.status == 200
    resp = await client.get(f"/v1/exercises/{squat}", headers=clinic.admin)
    assert (await resp.json())["name"] == "Squat"  # the global row is untouched


async def test_soft_deleted_exercise_leaves_the_library(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-EX-007: a retired exercise is no longer listed nor readable, and a new
    draft can no longer use it."""
    resp = await client.post("/v1/exercises", json=new_exercise(), headers=clinic.admin)
    ex = await resp.json()
    resp = await client.delete(f"/v1/exercises/{ex['id']}", headers=clinic.admin)
    assert resp.status == 204
    assert (await client.get(f"/v1/exercises/{ex['id']}", headers=clinic.admin)).status == 404
    assert ex["id"] not in {e["id"] for e in await list_all(client, clinic.admin)}
    body = {"name": "uses a retired exercise", "sessions": [{"exercises": [
        {"exercise_id": ex["id"], "sets": 1, "reps": 1, "rest_s": 0}]}]}  # fmt: skip
    resp = await client.post("/v1/treatment-plans", json=body, headers=clinic.admin)
    assert resp.status == 422
    assert "sessions.0.exercises.0.exercise_id" in (await resp.json())["error"]["details"]["fields"]


async def test_taxonomy_filters_narrow_the_library(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-EX-010: filters by category, body region, difficulty and tag, with the
    vocabularies published."""
    resp = await client.get("/v1/exercise-taxonomy", headers=clinic.patient())
    vocab = await resp.json()
    assert "knee" in vocab["body_regions"] and "beginner" in vocab["difficulties"]
    shoulder = await list_all(client, clinic.admin, "&scope=global&body_region=shoulder")
    assert {e["slug"] for e in shoulder} >= {"shoulder_flexion", "shoulder_abduction"}
    assert all(e["body_region"] == "shoulder" for e in shoulder)
    tagged = await list_all(client, clinic.admin, "&tag=falls_prevention&difficulty=beginner")
    assert {e["slug"] for e in tagged} >= {"sit_to_stand", "standing_hip_abduction"}
    resp = await client.get("/v1/exercises?scope=everything", headers=clinic.admin)
    assert resp.status == 422
