"""Progress records: session completions with per-exercise logs (REST and the repository the
session actors call), the post-session questionnaire, adherence, and their audit rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from server.resources import DB_KEY
from storage.audit import AuditActor
from storage.telerehab import (
    ExerciseSummary,
    SessionRecord,
    load_assigned_plan,
    record_completion,
)
from tests.integration.telerehab.conftest import Client, Clinic, assign, published_plan


def completion_body(clinic: Clinic, at: datetime, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "session_index": 0,
        "started_at": (at - timedelta(minutes=20)).isoformat(),
        "completed_at": at.isoformat(),
        "exercises": [
            {"position": 0, "exercise_id": str(clinic.library["squat"]), "sets_done": 3,
             "reps_done": 30, "duration_s": 400, "rom_min_deg": 70.5, "rom_mean_deg": 78.0,
             "rom_max_deg": 85.0, "tempo_mean_ms": 2300, "cues": {"chest_up": 2}, "pain": 2},
            {"position": 1, "exercise_id": str(clinic.library["heel_raise"]), "sets_done": 2,
             "reps_done": 24, "duration_s": 300},
        ],
    }  # fmt: skip
    body.update(overrides)
    return body


async def test_a_session_done_is_recorded_with_its_exercise_logs(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-TP-009: a completion stores reps, range of motion (min/mean/max), tempo,
    cues, duration and pain per exercise, with the prescribed targets from the snapshot."""
    plan = await published_plan(client, clinic)
    given = await assign(client, clinic, plan["id"])
    now = datetime.now(UTC)
    resp = await client.post(
        f"/v1/plan-assignments/{given['id']}/completions",
        json=completion_body(clinic, now),
        headers=clinic.patient(),
    )
    assert resp.status == 201, await resp.text()
    done = await resp.json()
    assert done["source"] == "manual" and done["duration_s"] == 1200
    squat = done["exercises"][0]
    assert (squat["reps_done"], squat["rom_min_deg"], squat["rom_max_deg"]) == (30, 70.5, 85.0)
    assert squat["cues"] == {"chest_up": 2} and squat["pain"] == 2
    assert (squat["sets_target"], squat["reps_target"]) == (3, 10)
    resp = await client.get(f"/v1/session-completions/{done['id']}", headers=clinic.admin)
    assert (await resp.json())["exercises"] == done["exercises"]
    resp = await client.get(f"/v1/patients/{clinic.patients[0]}/session-completions",
                            headers=clinic.patient())  # fmt: skip
    assert [c["id"] for c in (await resp.json())["data"]] == [done["id"]]
    resp = await client.get(f"/v1/session-completions/{done['id']}", headers=clinic.patient(1))
    assert resp.status == 404


async def test_completions_that_contradict_the_snapshot_are_refused(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-TP-009: a wrong exercise at a position, a session the plan does not have,
    and a range of motion out of order are refused per field; an ended assignment is 409."""
    plan = await published_plan(client, clinic)
    given = await assign(client, clinic, plan["id"])
    url = f"/v1/plan-assignments/{given['id']}/completions"
    body = completion_body(clinic, datetime.now(UTC))
    body["exercises"][1]["exercise_id"] = str(clinic.library["biceps_curl"])
    body["exercises"][0]["rom_min_deg"] = 90.0
    resp = await client.post(url, json=body, headers=clinic.patient())
    assert resp.status == 422
    fields = (await resp.json())["error"]["details"]["fields"]
    assert set(fields) == {"exercises.1.exercise_id", "exercises.0.rom"}
    resp = await client.post(url, json=completion_body(clinic, datetime.now(UTC),
                             session_index=3), headers=clinic.patient())  # fmt: skip
    assert "session_index" in (await resp.json())["error"]["details"]["fields"]
    resp = await client.post(f"/v1/plan-assignments/{given['id']}/end", headers=clinic.admin)
    assert (await resp.json())["status"] == "ended"
    resp = await client.post(f"/v1/plan-assignments/{given['id']}/end", headers=clinic.admin)
    assert resp.status == 409
    resp = await client.post(url, json=completion_body(clinic, datetime.now(UTC)),
                             headers=clinic.patient())  # fmt: skip
    assert resp.status == 409


async def test_the_session_repository_is_idempotent_per_live_session(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-TP-009: the telerehab session actors' call, retried with the same live
    session id, returns the first record instead of counting the session twice; the assigned
    plan loads with each exercise's kinematics."""
    plan = await published_plan(client, clinic)
    given = await assign(client, clinic, plan["id"])
    db = client.app[DB_KEY]
    live_session = uuid.uuid4()
    now = datetime.now(UTC)
    async with db.tenant(clinic.org_id) as conn:
        assigned = await load_assigned_plan(uuid.UUID(given["id"]))
        prescribed = assigned.exercises(0)
        assert [p.name for p in prescribed] == ["Squat", "Heel raise"]
        assert all(p.kinematics is not None for p in prescribed)
        rec = SessionRecord(
            assignment_id=assigned.assignment.id,
            session_index=0,
            started_at=now - timedelta(minutes=15),
            completed_at=now,
            telerehab_session_id=live_session,
            exercises=[
                ExerciseSummary(position=p.position, exercise_id=p.exercise_id,
                                sets_done=p.sets, reps_done=p.sets * p.reps, duration_s=200,
                                rom_min_deg=60.0, rom_mean_deg=65.0, rom_max_deg=70.0)
                for p in prescribed
            ],
        )  # fmt: skip
        actor = AuditActor(user_id=None, role="system")
        first = await record_completion(conn, rec, org_id=clinic.org_id, actor=actor)
    async with db.tenant(clinic.org_id) as conn:
        again = await record_completion(conn, rec, org_id=clinic.org_id, actor=actor)
    assert again.id == first.id and first.source == "telerehab"
    resp = await client.get(f"/v1/patients/{clinic.patients[0]}/session-completions",
                            headers=clinic.admin)  # fmt: skip
    assert len((await resp.json())["data"]) == 1


async def test_the_questionnaire_is_answered_once(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-TP-010: pain 0-10, difficulty 0-10 and a note are stored once (409 for a
    second answer); out-of-range scores are 422; the note is masked in the audit log."""
    plan = await published_plan(client, clinic)
    given = await assign(client, clinic, plan["id"])
    resp = await client.post(f"/v1/plan-assignments/{given['id']}/completions",
                             json=completion_body(clinic, datetime.now(UTC)),
                             headers=clinic.patient())  # fmt: skip
    done = await resp.json()
    url = f"/v1/session-completions/{done['id']}/questionnaire"
    resp = await client.post(url, json={"pain": 11, "difficulty": 3}, headers=clinic.patient())
    assert resp.status == 422 and "pain" in (await resp.json())["error"]["details"]["fields"]
    resp = await client.post(url, json={"pain": 3, "difficulty": 6, "note": "knee ached"},
                             headers=clinic.patient())  # fmt: skip
    assert resp.status == 201
    resp = await client.post(url, json={"pain": 1, "difficulty": 1}, headers=clinic.patient())
    assert resp.status == 409
    resp = await client.get(f"/v1/session-completions/{done['id']}", headers=clinic.specialist)
    assert resp.status == 404  # not the specialist's patient
    detail = await (await client.get(f"/v1/session-completions/{done['id']}",
                                     headers=clinic.admin)).json()  # fmt: skip
    assert detail["questionnaire"]["pain"] == 3 and detail["questionnaire"]["note"] == "knee ached"
    async with client.app[DB_KEY].platform() as conn:
        diff = await conn.fetchval(
            "SELECT diff FROM audit_log WHERE action = 'session_questionnaire.answered' "
            "AND entity_id = $1",
            done["id"],
        )
    assert diff["note"]["after"] == "***" and diff["pain"]["after"] == 3


async def test_adherence_counts_sessions_done_against_the_schedule(
    client: Client, clinic: Clinic
) -> None:
    """Verifies REQ-TP-011: in a 14-day period, a 3-per-week assignment schedules 6 sessions;
    completed sessions count, partial ones do not, and the rate is done / scheduled."""
    plan = await published_plan(client, clinic)
    today = datetime.now(UTC).date()
    start = today - timedelta(days=13)
    given = await assign(client, clinic, plan["id"], frequency={"per_week": 3},
                         starts_on=start.isoformat(), ends_on=None)  # fmt: skip
    url = f"/v1/plan-assignments/{given['id']}/completions"
    now = datetime.now(UTC)
    for days_ago, status in ((1, "completed"), (3, "completed"), (5, "partial")):
        body = completion_body(clinic, now - timedelta(days=days_ago), status=status)
        resp = await client.post(url, json=body, headers=clinic.patient())
        assert resp.status == 201, await resp.text()
    query = f"?from={start.isoformat()}&to={today.isoformat()}"
    resp = await client.get(f"/v1/patients/{clinic.patients[0]}/adherence{query}",
                            headers=clinic.patient())  # fmt: skip
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert (report["scheduled"], report["completed"], report["rate"]) == (6, 2, round(2 / 6, 4))
    assert [a["assignment_id"] for a in report["assignments"]] == [given["id"]]
    resp = await client.get(f"/v1/patients/{clinic.patients[0]}/adherence?from=2026-13-01",
                            headers=clinic.admin)  # fmt: skip
    assert resp.status == 422


async def test_every_mutation_writes_an_audit_row(client: Client, clinic: Clinic) -> None:
    """Verifies REQ-TP-014: creating, publishing and assigning a plan each write one audit row
    in their organization, naming the actor's role."""
    plan = await published_plan(client, clinic)
    await assign(client, clinic, plan["id"])
    async with client.app[DB_KEY].platform() as conn:
        rows = await conn.fetch(
            "SELECT action, actor_role FROM audit_log WHERE organization_id = $1 "
            "AND action LIKE 'treatment_plan.%' OR action = 'plan_assignment.created' "
            "AND organization_id = $1",
            clinic.org_id,
        )
    actions = sorted(r["action"] for r in rows)
    assert actions == ["plan_assignment.created", "treatment_plan.created",
                       "treatment_plan.published"]  # fmt: skip
    assert {r["actor_role"] for r in rows} == {"admin"}
