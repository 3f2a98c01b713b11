"""GET /v1/calendars/{id}/slots: the calendar shard's view of rules and bookings."""

from __future__ import annotations

from typing import Any

from storage.types import Role
from tests.integration.scheduling.conftest import Api, day_at, z


async def _slots(
    api: Api, calendar_id: str, query: str, role: Role = Role.ADMIN
) -> list[dict[str, Any]]:
    body = await api.ok("GET", f"/v1/calendars/{calendar_id}/slots?{query}", role=role)
    assert body["calendar_id"] == calendar_id
    # Answered by the calendar's shard: the stream position the snapshot reflects (invariant 3).
    assert set(body["position"]) == {"offset", "epoch"}
    slots: list[dict[str, Any]] = body["slots"]
    return slots


async def test_slots_follow_hours_bookings_buffers_and_overrides(api: Api) -> None:
    a, b = await api.specialist("A"), await api.specialist("B")
    calendar = await api.calendar([a, b])
    cid = calendar["id"]
    window = f"from={z(day_at(3, 0))}&to={z(day_at(4, 0))}"
    slots = await _slots(api, cid, window)
    assert [s["start"] for s in slots] == [z(day_at(3, h)) for h in range(8, 20)]
    assert all(s["specialist_ids"] == [a, b] for s in slots)  # priority order

    patient = await api.patient()
    await api.book_one(cid, patient, day_at(3, 10), specialist_id=a)
    free = {s["start"]: s["specialist_ids"] for s in await _slots(api, cid, window)}
    assert free[z(day_at(3, 10))] == [b]

    day = day_at(3, 0).date().isoformat()
    await api.ok("POST", f"/v1/specialists/{b}/overrides", {"date": day, "hours": []}, expect=201)
    free = {s["start"]: s["specialist_ids"] for s in await _slots(api, cid, window)}
    assert z(day_at(3, 10)) not in free and free[z(day_at(3, 11))] == [a]

    # A calendar-local date as `to` includes the whole date.
    by_date = await _slots(api, cid, f"from={day}&to={day}")
    assert [s["start"] for s in by_date] == [s for s in sorted(free)]


async def test_buffers_of_another_calendar_keep_this_calendars_slots_away(api: Api) -> None:
    """The busy interval of an appointment booked with 30-minute buffers blocks a calendar
    without buffers for exactly those 30 minutes on each side, as the constraint does."""
    sid = await api.specialist()
    buffered = await api.calendar(
        [sid], (await api.service(buffer_before_min=30, buffer_after_min=30))["id"]
    )
    plain = await api.calendar(
        [sid], (await api.service(duration_min=30))["id"], slot_interval_min=30
    )
    patient = await api.patient()
    await api.book_one(buffered["id"], patient, day_at(5, 12))  # 12:00-13:00, busy 11:30-13:30
    window = f"from={z(day_at(5, 10))}&to={z(day_at(5, 15))}"
    starts = [s["start"] for s in await _slots(api, plain["id"], window)]
    assert starts == [
        z(day_at(5, 10)),
        z(day_at(5, 10, 30)),
        z(day_at(5, 11)),
        z(day_at(5, 13, 30)),
        z(day_at(5, 14)),
        z(day_at(5, 14, 30)),
    ]
    status, body = await api.book(plain["id"], patient, day_at(5, 13))
    assert status == 409 and body["error"]["code"] == "slot_unavailable"
    await api.book_one(plain["id"], patient, day_at(5, 13, 30))


async def test_patients_see_public_calendars_only_and_windows_are_bounded(api: Api) -> None:
    sid = await api.specialist()
    public = await api.calendar([sid])
    private = await api.calendar([sid], public=False)
    window = f"from={z(day_at(2, 0))}&to={z(day_at(3, 0))}"
    assert await _slots(api, public["id"], window, role=Role.PATIENT)
    status, _ = await api.call(
        "GET", f"/v1/calendars/{private['id']}/slots?{window}", role=Role.PATIENT
    )
    assert status == 404
    status, body = await api.call(
        "GET", f"/v1/calendars/{public['id']}/slots?from=2030-01-01&to=2030-12-31"
    )
    assert status == 422 and "to" in body["error"]["details"]["fields"]
    status, _ = await api.call("GET", f"/v1/calendars/{public['id']}/slots?from=yesterday")
    assert status == 422


async def test_min_notice_and_rolling_horizon_limit_public_slots(api: Api) -> None:
    sid = await api.specialist()
    calendar = await api.calendar([sid], horizon_days=2, min_notice_min=24 * 60)
    slots = await _slots(api, calendar["id"], f"from={z(day_at(0, 0))}&to={z(day_at(5, 0))}")
    starts = [s["start"] for s in slots]
    assert starts and min(starts) >= z(day_at(1, 0)) and max(starts) < z(day_at(3, 0))


async def test_slots_in_the_viewers_zone_grouped_by_day(api: Api) -> None:
    """`timezone` reads the dates in the viewer's zone and `group=day` cuts days there: a UTC
    calendar open 08:00-20:00 seen from Tokyo (UTC+9, no DST) has one Tokyo day spanning the
    previous UTC day's evening and the UTC day's morning."""
    cid = (await api.calendar([await api.specialist()]))["id"]
    tokyo_day = day_at(5, 0).date()
    query = f"from={tokyo_day}&to={tokyo_day}&timezone=Asia/Tokyo&group=day"
    body = await api.ok("GET", f"/v1/calendars/{cid}/slots?{query}")
    evening = [z(day_at(4, h)) for h in range(15, 20)]  # 00:00-04:00 in Tokyo
    morning = [z(day_at(5, h)) for h in range(8, 15)]  # 17:00-23:00 in Tokyo
    assert [s["start"] for s in body["slots"]] == evening + morning
    assert body["viewer_timezone"] == "Asia/Tokyo" and body["timezone"] == "UTC"
    [day] = body["days"]
    assert day["date"] == tokyo_day.isoformat()
    assert [s["start"] for s in day["slots"]] == evening + morning
    assert day["slots"][0]["local_start"] == f"{tokyo_day}T00:00+09:00"
    assert day["slots"][-1]["local_start"] == f"{tokyo_day}T23:00+09:00"

    # The same window without a viewer zone: the calendar's (UTC) days, two of them.
    utc = f"from={z(day_at(4, 15))}&to={z(day_at(5, 15))}&group=day"
    response = await api.client.get(f"/v1/public/calendars/{cid}/slots?{utc}")
    assert response.status == 200
    body = await response.json()
    assert [d["date"] for d in body["days"]] == [
        day_at(4, 0).date().isoformat(),
        tokyo_day.isoformat(),
    ]
    assert "viewer_timezone" not in body

    for bad in ("timezone=Mars/Olympus", "group=week"):
        status, err = await api.call("GET", f"/v1/calendars/{cid}/slots?{bad}")
        assert status == 422 and err["error"]["code"] == "validation_failed"
        assert set(err["error"]["details"]["fields"]) == {bad.split("=")[0]}
