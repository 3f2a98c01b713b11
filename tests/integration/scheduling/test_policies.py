"""A clinic's scheduling policy through REST: cancellation reasons from its list, late
cancellations, patients cancelling and moving their own appointments within the notice, and the
patient's attendance (no-shows and cancellations) with its counts."""

from __future__ import annotations

from typing import Any

from storage.types import Role
from tests.integration.scheduling.conftest import Api, day_at, z

WEEK_MIN = 7 * 24 * 60


async def _cancel(
    api: Api, appointment_id: str, reason: str, role: Role = Role.RECEPTIONIST, **claims: Any
) -> tuple[int, Any]:
    body = {"reason": reason, "note": None}
    return await api.call("POST", f"/v1/appointments/{appointment_id}/cancel", body, role, **claims)


async def _attendance(api: Api, patient: str, query: str = "", **claims: Any) -> Any:
    role = claims.pop("role", Role.RECEPTIONIST)
    return await api.ok("GET", f"/v1/patients/{patient}/attendance?{query}", role=role, **claims)


async def test_reasons_come_from_the_clinics_list_and_late_cancellations_are_marked(
    api: Api,
) -> None:
    cid = (await api.calendar([await api.specialist()]))["id"]
    patient = await api.patient()
    soon = await api.book_one(cid, patient, day_at(3, 10))
    later = await api.book_one(cid, patient, day_at(10, 10))
    third = await api.book_one(cid, patient, day_at(11, 10))

    # Without a list, any reason is taken (as before clinics had lists).
    assert (await api.ok("GET", "/v1/cancellation-reasons"))["data"] == []
    for code, label in (("ill", "Patient unwell"), ("travel", "Travelling")):
        await api.ok("POST", "/v1/cancellation-reasons", {"code": code, "label": label}, expect=201)
    status, body = await api.call(
        "POST", "/v1/cancellation-reasons", {"code": "ill", "label": "again"}
    )
    assert status == 409 and body["error"]["code"] == "duplicate"
    status, _ = await api.call(
        "POST", "/v1/cancellation-reasons", {"code": "x", "label": "y"}, role=Role.RECEPTIONIST
    )
    assert status == 403
    listed = await api.ok("GET", "/v1/cancellation-reasons", role=Role.PATIENT, patient_id=patient)
    assert [r["code"] for r in listed["data"]] == ["ill", "travel"]

    status, body = await _cancel(api, soon["id"], "felt like it")
    assert status == 422, body
    assert "ill, travel" in body["error"]["details"]["fields"]["reason"]

    await api.ok("PUT", "/v1/scheduling-policy", {"late_cancel_window_min": WEEK_MIN})
    status, body = await _cancel(api, soon["id"], "ill")
    assert status == 200 and body["status"] == "cancelled", body
    status, body = await _cancel(api, later["id"], "travel")
    assert status == 200, body

    # A retired reason is no longer offered nor taken; staff still see it on request.
    travel = next(r for r in listed["data"] if r["code"] == "travel")
    await api.ok("PATCH", f"/v1/cancellation-reasons/{travel['id']}", {"active": False})
    status, body = await _cancel(api, third["id"], "travel")
    assert status == 422, body
    every = await api.ok("GET", "/v1/cancellation-reasons?include_retired=true")
    assert {r["code"]: r["active"] for r in every["data"]} == {"ill": True, "travel": False}

    seen = await _attendance(api, patient)
    kinds = {e["appointment_id"]: (e["kind"], e["reason"]) for e in seen["data"]}
    assert kinds == {
        soon["id"]: ("late_cancellation", "ill"),  # 3 days ahead, inside the week's window
        later["id"]: ("cancellation", "travel"),
    }
    assert seen["counts"] == {
        "attended": 0,
        "no_shows": 0,
        "cancellations": 1,
        "late_cancellations": 1,
    }


async def test_patients_change_their_own_appointments_within_the_policy(api: Api) -> None:
    cid = (await api.calendar([await api.specialist()]))["id"]
    me, other = await api.patient(), await api.patient("Other")
    mine = await api.book_one(cid, me, day_at(3, 10))
    theirs = await api.book_one(cid, other, day_at(3, 11))
    as_me: dict[str, Any] = {"role": Role.PATIENT, "patient_id": me}

    # The default policy: patients change nothing themselves.
    status, body = await _cancel(api, mine["id"], "ill", **as_me)
    assert status == 403 and body["error"]["code"] == "policy_refused", body
    move = {"start": z(day_at(5, 10))}
    status, body = await api.call(
        "POST", f"/v1/appointments/{mine['id']}/reschedule", move, **as_me
    )
    assert status == 403 and body["error"]["code"] == "policy_refused", body

    # Allowed, but two weeks' notice: three days ahead is too late, with the deadline named.
    policy = {
        "patient_can_cancel": True,
        "patient_can_reschedule": True,
        "patient_min_notice_min": 2 * WEEK_MIN,
    }
    assert (await api.ok("PUT", "/v1/scheduling-policy", policy))["patient_can_cancel"]
    status, body = await _cancel(api, mine["id"], "ill", **as_me)
    assert status == 403 and body["error"]["details"]["min_notice_min"] == 2 * WEEK_MIN, body
    assert "deadline" in body["error"]["details"]

    await api.ok("PUT", "/v1/scheduling-policy", {"patient_min_notice_min": 24 * 60})
    assert (await api.ok("GET", "/v1/scheduling-policy", **as_me)) == {
        **policy,
        "patient_min_notice_min": 24 * 60,
        "late_cancel_window_min": 0,
        "allow_forced_booking": False,
    }
    # Someone else's appointment is not theirs to see (404, as an unknown id).
    status, _ = await _cancel(api, theirs["id"], "ill", **as_me)
    assert status == 404
    status, _ = await api.call("POST", f"/v1/appointments/{theirs['id']}/reschedule", move, **as_me)
    assert status == 404
    # Their own: moved within the calendar, then cancelled.
    moved = await api.ok("POST", f"/v1/appointments/{mine['id']}/reschedule", move, **as_me)
    assert moved["start"] == z(day_at(5, 10))
    elsewhere = {**move, "calendar_id": (await api.calendar([await api.specialist()]))["id"]}
    status, body = await api.call(
        "POST", f"/v1/appointments/{mine['id']}/reschedule", elsewhere, **as_me
    )
    assert status == 422 and "calendar_id" in body["error"]["details"]["fields"]
    status, body = await _cancel(api, mine["id"], "ill", **as_me)
    assert status == 200 and body["status"] == "cancelled", body
    seen = await _attendance(api, me, **as_me)
    assert [(e["kind"], e["by_role"]) for e in seen["data"]] == [("cancellation", "patient")]
    # A patient has no say in other transitions.
    status, _ = await api.call("POST", f"/v1/appointments/{theirs['id']}/no-show", **as_me)
    assert status == 403


async def test_attendance_keeps_no_shows_and_pages(api: Api) -> None:
    a, b = await api.specialist("A"), await api.specialist("B")
    cid = (await api.calendar([a, b]))["id"]
    patient = await api.patient()
    missed = [await api.book_one(cid, patient, day_at(2 + i, 9), specialist_id=a) for i in range(3)]
    seen_by_b = await api.book_one(cid, patient, day_at(6, 9), specialist_id=b)
    attended = await api.book_one(cid, patient, day_at(7, 9), specialist_id=a)
    for appt in [*missed, seen_by_b]:
        await api.ok("POST", f"/v1/appointments/{appt['id']}/no-show", role=Role.RECEPTIONIST)
    for step in ("check-in", "start", "complete"):
        await api.ok("POST", f"/v1/appointments/{attended['id']}/{step}", role=Role.RECEPTIONIST)

    first = await _attendance(api, patient, "limit=2")
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = await _attendance(api, patient, f"limit=10&cursor={first['next_cursor']}")
    listed = [e["appointment_id"] for e in first["data"] + rest["data"]]
    assert sorted(listed) == sorted(x["id"] for x in [*missed, seen_by_b])
    assert {e["kind"] for e in first["data"] + rest["data"]} == {"no_show"}
    assert first["counts"] == {
        "attended": 1,
        "no_shows": 4,
        "cancellations": 0,
        "late_cancellations": 0,
    }
    # Specialist B sees the share of their own appointments only.
    mine = await _attendance(api, patient, role=Role.SPECIALIST, specialist_id=b)
    assert [e["appointment_id"] for e in mine["data"]] == [seen_by_b["id"]]
    assert mine["counts"]["no_shows"] == 1 and mine["counts"]["attended"] == 0
    # Another patient's attendance, a bad cursor: 404 and 422.
    other = await api.patient("Other")
    status, _ = await api.call(
        "GET", f"/v1/patients/{other}/attendance", role=Role.PATIENT, patient_id=patient
    )
    assert status == 404
    status, body = await api.call("GET", f"/v1/patients/{patient}/attendance?cursor=nope")
    assert status == 422, body
