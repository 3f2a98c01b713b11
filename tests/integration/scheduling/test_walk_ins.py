"""Walk-ins and forced bookings through REST: a patient at the desk is matched or created,
booked and checked in at once; booking over a conflict is an admin's, where the clinic allows
it, with its reason; every other appointment keeps the database's no-overlap proof."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from server.resources import DB_KEY
from storage.types import Role
from tests.integration.scheduling.conftest import Api, day_at, z


def _soon() -> datetime:
    """A walk-in time: the next whole hour (within the 12 hours a walk-in may be placed)."""
    return (datetime.now(UTC) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)


async def _walk_in(api: Api, role: Role = Role.RECEPTIONIST, **body: Any) -> tuple[int, Any]:
    return await api.call("POST", "/v1/walk-ins", body, role=role)


async def test_a_walk_in_is_matched_or_created_booked_and_checked_in(api: Api) -> None:
    sid = await api.specialist()
    cid = (await api.calendar([sid]))["id"]
    details = {"first_name": "Ana", "last_name": "Pop", "email": "ana@example.org"}
    start = _soon()
    status, first = await _walk_in(
        api, calendar_id=cid, patient=details, start=z(start), visit_reason="Back pain"
    )
    assert status == 201, first
    assert first["patient_created"] is True
    appt = first["appointment"]
    assert appt["visit_reason"] == "Back pain"
    assert (await api.ok("GET", f"/v1/appointments/{appt['id']}"))["visit_reason"] == "Back pain"
    assert appt["status"] == "checked_in" and appt["specialist_id"] == sid
    assert appt["start"] == z(start) and appt["forced_reason"] is None
    history = await api.ok("GET", f"/v1/appointments/{appt['id']}/history")
    assert [h["action"] for h in history["data"]] == ["book", "check_in"]

    # The same person again (same e-mail, the name typed differently): matched, not duplicated.
    again = {**details, "first_name": "Anna", "email": "ANA@example.org "}
    later = start + timedelta(hours=2)
    status, second = await _walk_in(api, calendar_id=cid, patient=again, start=z(later))
    assert status == 201, second
    assert second["patient_created"] is False and second["patient_id"] == first["patient_id"]
    # By id; the default time is now (another specialist: the first is busy from the hour).
    other = await api.patient("Ion")
    now_cid = (await api.calendar([await api.specialist("Now")]))["id"]
    status, third = await _walk_in(api, calendar_id=now_cid, patient_id=other)
    assert status == 201, third
    booked_at = datetime.fromisoformat(third["appointment"]["start"])
    assert abs(booked_at - datetime.now(UTC)) < timedelta(minutes=5)

    for bad in (
        {"calendar_id": cid},  # no patient
        {"calendar_id": cid, "patient_id": other, "patient": details},  # both
        {"calendar_id": cid, "patient_id": other, "start": z(start + timedelta(days=2))},
        {"calendar_id": cid, "patient_id": other, "specialist_id": await api.specialist("X")},
        {"calendar_id": await api.patient("not a calendar"), "patient_id": other},
    ):
        status, body = await _walk_in(api, **bad)
        assert status == 422 and body["error"]["code"] == "validation_failed", (bad, body)


async def test_booking_over_a_conflict_is_an_admins_where_the_clinic_allows_it(api: Api) -> None:
    sid = await api.specialist()
    cid = (await api.calendar([sid]))["id"]
    start = _soon()
    patient, late_comer = await api.patient("First"), await api.patient("Second")
    status, body = await _walk_in(api, calendar_id=cid, patient_id=patient, start=z(start))
    assert status == 201, body

    clash = {"calendar_id": cid, "patient_id": late_comer, "start": z(start)}
    status, body = await _walk_in(api, **clash)
    assert status == 409 and body["error"]["code"] == "slot_unavailable", body
    assert body["error"]["details"]["conflicts"][0]["reason"] == "busy"
    forced = {**clash, "force_reason": "Emergency: acute pain"}
    for role in (Role.RECEPTIONIST, Role.ADMIN):  # the policy does not allow it yet
        status, body = await _walk_in(api, role, **forced)
        assert status == 403 and body["error"]["code"] == "policy_refused", body
    await api.ok("PUT", "/v1/scheduling-policy", {"allow_forced_booking": True})
    status, body = await _walk_in(api, Role.RECEPTIONIST, **forced)
    assert status == 403 and body["error"]["code"] == "policy_refused", body
    status, body = await _walk_in(api, Role.ADMIN, **forced)
    assert status == 201, body
    assert body["appointment"]["forced_reason"] == "Emergency: acute pain"
    audit = await api.ok("GET", "/v1/audit?entity=appointment")
    assert any(b"Emergency: acute pain" in orjson.dumps(row["diff"]) for row in audit["data"])

    # A forced booking ahead, through the staff booking path, names its specialist.
    ahead = {"calendar_id": cid, "patient_id": patient, "start": z(day_at(4, 10))}
    await api.ok("POST", "/v1/appointments/series", ahead, role=Role.RECEPTIONIST, expect=201)
    status, body = await api.call("POST", "/v1/appointments/series", ahead)
    assert status == 409, body
    over = {**ahead, "patient_id": late_comer, "force_reason": "Double-booked on purpose"}
    status, body = await api.call("POST", "/v1/appointments/series", over)
    assert status == 422 and "specialist_id" in body["error"]["details"]["fields"], body
    status, body = await api.call("POST", "/v1/appointments/series", {**over, "specialist_id": sid})
    assert status == 201, body
    assert body["appointments"][0]["forced_reason"] == "Double-booked on purpose"
    # Force given where nothing conflicts: an ordinary booking, the proof kept.
    free = {**ahead, "start": z(day_at(4, 12)), "force_reason": "not needed", "specialist_id": sid}
    status, body = await api.call("POST", "/v1/appointments/series", free)
    assert status == 201 and body["appointments"][0]["forced_reason"] is None, body

    # The database still refuses an unforced overlap, whoever writes it.
    async with api.client.app[DB_KEY].tenant(api.org_id) as conn:
        with pytest.raises(asyncpg.ExclusionViolationError):
            await conn.execute(
                """INSERT INTO appointments (calendar_id, service_id, specialist_id, patient_id,
                     starts_at, ends_at)
                   SELECT calendar_id, service_id, specialist_id, $2, starts_at, ends_at
                   FROM appointments WHERE id = $1""",
                uuid.UUID(body["appointments"][0]["id"]),
                uuid.UUID(late_comer),
            )
