"""Rule edits (hours, overrides, specialists' profiles, services, calendar settings and members)
are commands to the shard that owns the organization: it writes them and pushes the slot changes
of every loaded calendar they touch before the edit is acknowledged, so no calendar lists time
under the old rules once the edit answered, and nothing reloads. Reschedules may move an
appointment to another calendar of the organization: one shard owns both, so the move is one
decision."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from pipelines.availability import compute_slots
from server.resources import DB_KEY
from server.services import CALENDARS_KEY
from storage import scheduling as store
from storage.types import Role
from tests.integration.live.conftest import Clinic, day_at, make_clinic, z


async def _sibling(clinic: Clinic, specialists: list[str], **calendar: Any) -> Clinic:
    created = await clinic.api.calendar(specialists, **calendar)
    return Clinic(clinic.api, created["id"], specialists[0], clinic.patient_id)


def _starts(snapshot: dict[str, Any]) -> set[str]:
    return {s["start"] for s in snapshot["slots"]}


async def _reloads(clinic: Clinic) -> int:
    commands = clinic.client.app[CALENDARS_KEY]
    pool = commands._pool  # noqa: SLF001 - the shard's own counter
    org_id = await commands.owner(uuid.UUID(clinic.calendar_id))
    assert org_id is not None
    stats = await pool.handle(pool.shard_for(org_id)).stats.remote()
    return int(stats["reloads"])


async def _as_postgres_implies(clinic: Clinic, lo: datetime, hi: datetime) -> None:
    """The shard's snapshot is what the engine computes from Postgres (rules and bookings),
    and the deltas since any earlier snapshot lead to it."""
    now = datetime.now(UTC)
    async with clinic.client.app[DB_KEY].tenant(clinic.api.org_id) as conn:
        snap = await store.load_calendar_snapshot(
            conn, uuid.UUID(clinic.calendar_id), now=now, window=(lo, hi)
        )
    engine = compute_slots(snap.calendar, snap.busy(), [], now, lo, hi, snap.assignment_counts)
    listed = (await clinic.slots(z(lo), z(hi)))["slots"]
    assert [(s["start"], sorted(s["specialist_ids"])) for s in listed] == [
        (z(s.start), sorted(map(str, s.specialist_ids))) for s in engine
    ]


def _replayed(
    before: dict[str, Any], deltas: list[dict[str, Any]], lo: datetime, hi: datetime
) -> set[str]:
    """The starts in [lo, hi) of a snapshot of that window with the deltas since applied."""
    slots = set(_starts(before))
    for delta in deltas:
        slots -= {r["start"] for r in delta["removed"]}
        slots |= {u["start"] for u in delta["upserted"]}
    return {s for s in slots if z(lo) <= s < z(hi)}


async def _settled(
    clinic: Any, before: dict[str, Any], lo: datetime, hi: datetime
) -> dict[str, Any]:
    """The window's snapshot now, checked two ways: the snapshot taken `before` with the deltas
    since applied gives the same starts, and every slot is what Postgres implies."""
    now: dict[str, Any] = await clinic.slots(z(lo), z(hi))
    assert _replayed(before, await clinic.deltas_since(before["position"]), lo, hi) == _starts(now)
    await _as_postgres_implies(clinic, lo, hi)
    return now


async def test_new_weekly_hours_reach_every_calendar_of_the_specialist_before_the_answer(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    b = await _sibling(a, [a.specialist_id])
    lo, hi = day_at(2, 0), day_at(4, 0)
    before_a, before_b = await a.slots(z(lo), z(hi)), await b.slots(z(lo), z(hi))
    assert z(day_at(2, 8)) in _starts(before_a) and z(day_at(2, 8)) in _starts(before_b)
    reloads = await _reloads(a)

    afternoons = [{"weekday": d, "start": "14:00", "end": "18:00"} for d in range(1, 8)]
    answer = await a.api.ok(
        "PUT", f"/v1/specialists/{a.specialist_id}/weekly-hours", {"hours": afternoons}
    )
    assert answer["hours"] == afternoons

    for clinic, before in ((a, before_a), (b, before_b)):
        now = await _settled(clinic, before, lo, hi)
        assert z(day_at(2, 8)) not in _starts(now) and z(day_at(2, 14)) in _starts(now)
    assert await _reloads(a) == reloads, "a shard re-read a calendar instead of applying the edit"


async def test_a_day_off_closes_the_date_on_both_calendars_and_removing_it_reopens_it(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    b = await _sibling(a, [a.specialist_id])
    lo, hi = day_at(3, 0), day_at(4, 0)
    day = day_at(3, 0).date().isoformat()
    reloads = await _reloads(a)

    made = await a.api.ok(
        "POST", f"/v1/specialists/{a.specialist_id}/overrides", {"date": day, "hours": []},
        expect=201,
    )  # fmt: skip
    assert made == {"date": day, "hours": [], "day_off": True}
    assert _starts(await a.slots(z(lo), z(hi))) == set()
    assert _starts(await b.slots(z(lo), z(hi))) == set()
    status, _ = await b.hold(day_at(3, 10))
    assert status == 422  # not a slot any more, at once

    await a.api.ok("DELETE", f"/v1/specialists/{a.specialist_id}/overrides/{day}", expect=204)
    for clinic in (a, b):
        assert z(day_at(3, 10)) in _starts(await clinic.slots(z(lo), z(hi)))
        await _as_postgres_implies(clinic, lo, hi)
    status, _ = await a.api.call("DELETE", f"/v1/specialists/{a.specialist_id}/overrides/{day}")
    assert status == 404
    assert await _reloads(a) == reloads


async def test_calendar_settings_and_members_apply_before_the_answer(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    other = await a.api.specialist("Other")
    lo, hi = day_at(2, 0), day_at(3, 0)
    before = await a.slots(z(lo), z(hi))
    reloads = await _reloads(a)

    body = {"slot_interval_min": 30, "specialists": [{"id": other, "priority": 0}]}
    edited = await a.api.ok("PATCH", f"/v1/calendars/{a.calendar_id}", body)
    assert edited["slot_interval_min"] == 30
    assert [m["id"] for m in edited["specialists"]] == [other]

    now = await _settled(a, before, lo, hi)
    assert z(day_at(2, 8, 30)) in _starts(now)
    assert {s for slot in now["slots"] for s in slot["specialist_ids"]} == {other}
    assert await _reloads(a) == reloads

    status, body = await a.api.call(
        "PATCH", f"/v1/calendars/{a.calendar_id}", {"specialists": [{"id": str(uuid.uuid4())}]}
    )
    assert status == 422, body
    assert "specialists" in body["error"]["details"]["fields"]


async def test_a_service_edit_reshapes_the_slots_of_its_calendars_before_the_answer(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    service_id = (await a.api.ok("GET", f"/v1/calendars/{a.calendar_id}"))["service_id"]
    b = await _sibling(a, [a.specialist_id], service_id=service_id)
    lo, hi = day_at(2, 0), day_at(3, 0)
    before_a, before_b = await a.slots(z(lo), z(hi)), await b.slots(z(lo), z(hi))
    assert z(day_at(2, 19)) in _starts(before_a)  # 19:00-20:00, the day's last hour
    reloads = await _reloads(a)

    edited = await a.api.ok("PATCH", f"/v1/services/{service_id}", {"duration_min": 90})
    assert (edited["id"], edited["duration_min"]) == (service_id, 90)

    for clinic, before in ((a, before_a), (b, before_b)):
        now = await _settled(clinic, before, lo, hi)
        assert z(day_at(2, 19)) not in _starts(now)  # 90 minutes no longer fit before 20:00
        assert {s["end"] for s in now["slots"]} >= {z(day_at(2, 9, 30))}
    assert await _reloads(a) == reloads, "a shard re-read a calendar instead of applying the edit"

    await a.api.ok("DELETE", f"/v1/services/{service_id}", expect=204)
    for clinic in (a, b):  # inactive now: only staff see the calendar, and it lists nothing
        path = f"/v1/calendars/{clinic.calendar_id}/slots?from={z(lo)}&to={z(hi)}"
        assert (await clinic.api.ok("GET", path))["slots"] == []
        assert (await clinic.shard_state())["slots"] == []
    status, _ = await a.api.call("DELETE", f"/v1/services/{service_id}")
    assert status == 404
    status, _ = await a.api.call("PATCH", f"/v1/services/{service_id}", {"duration_min": 30})
    assert status == 404
    assert await _reloads(a) == reloads


async def test_deactivating_a_specialist_empties_their_calendars_before_the_answer(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    b = await _sibling(a, [a.specialist_id])
    lo, hi = day_at(2, 0), day_at(3, 0)
    before_a, before_b = await a.slots(z(lo), z(hi)), await b.slots(z(lo), z(hi))
    assert z(day_at(2, 10)) in _starts(before_a) and z(day_at(2, 10)) in _starts(before_b)
    reloads = await _reloads(a)

    path = f"/v1/specialists/{a.specialist_id}"
    edited = await a.api.ok("PATCH", path, {"active": False})
    assert (edited["id"], edited["active"]) == (a.specialist_id, False)
    for clinic, before in ((a, before_a), (b, before_b)):
        now = await _settled(clinic, before, lo, hi)
        assert _starts(now) == set()
    status, _ = await b.hold(day_at(2, 10))
    assert status == 422  # not a slot any more, at once

    # Back again: an inactive specialist is no member of the live calendars, yet the edit
    # finds them through the database.
    assert (await a.api.ok("PATCH", path, {"active": True}))["active"] is True
    for clinic in (a, b):
        assert z(day_at(2, 10)) in _starts(await clinic.slots(z(lo), z(hi)))
        await _as_postgres_implies(clinic, lo, hi)
    assert await _reloads(a) == reloads, "a shard re-read a calendar instead of applying the edit"

    await a.api.ok("DELETE", path, expect=204)
    for clinic in (a, b):
        assert _starts(await clinic.slots(z(lo), z(hi))) == set()
    status, _ = await a.api.call("DELETE", path)
    assert status == 404
    status, _ = await a.api.call("PATCH", path, {"active": True})
    assert status == 404


async def test_deleting_a_calendar_ends_its_holds_and_frees_their_time_elsewhere(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    b = await _sibling(a, [a.specialist_id])
    at, lo, hi = day_at(4, 10), day_at(4, 0), day_at(5, 0)
    status, held = await a.hold(at)
    assert status == 201, held
    assert z(at) not in _starts(await b.slots(z(lo), z(hi)))

    await a.api.ok("DELETE", f"/v1/calendars/{a.calendar_id}", expect=204)
    assert z(at) in _starts(await b.slots(z(lo), z(hi)))
    status, _ = await a.api.call("GET", f"/v1/calendars/{a.calendar_id}/slots")
    assert status == 404
    status, _ = await a.api.call("DELETE", f"/v1/calendars/{a.calendar_id}")
    assert status == 404


async def _booked(clinic: Clinic, at: datetime) -> dict[str, Any]:
    status, hold = await clinic.hold(at)
    assert status == 201, hold
    return await clinic.api.ok(  # type: ignore[no-any-return]
        "POST", "/v1/appointments", {"hold_id": hold["id"], "patient_id": clinic.patient_id},
        expect=201,
    )  # fmt: skip


async def test_a_reschedule_to_another_calendar_moves_the_time_on_both_at_once(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    short = await a.api.service(name="Short", duration_min=30)
    b = await _sibling(a, [a.specialist_id], service_id=short["id"], slot_interval_min=30)
    appt = await _booked(a, day_at(2, 9))
    lo, hi = day_at(2, 0), day_at(3, 0)
    before_b = await b.slots(z(lo), z(hi))
    reloads = await _reloads(a)

    moved = await a.api.ok(
        "POST", f"/v1/appointments/{appt['id']}/reschedule",
        {"start": z(day_at(2, 15)), "calendar_id": b.calendar_id}, role=Role.RECEPTIONIST,
    )  # fmt: skip
    assert (moved["id"], moved["calendar_id"]) == (appt["id"], b.calendar_id)
    assert (moved["start"], moved["end"]) == (z(day_at(2, 15)), z(day_at(2, 15, 30)))
    assert moved["service_id"] == short["id"]

    assert z(day_at(2, 9)) in _starts(await a.slots(z(lo), z(hi)))
    now_b = await b.slots(z(lo), z(hi))
    assert z(day_at(2, 15)) not in _starts(now_b) and z(day_at(2, 9)) in _starts(now_b)
    assert _replayed(before_b, await b.deltas_since(before_b["position"]), lo, hi) == _starts(now_b)
    status, _ = await a.hold(day_at(2, 15))
    assert status == 409  # the specialist's time, on every calendar
    for clinic in (a, b):
        await _as_postgres_implies(clinic, lo, hi)
    assert await _reloads(a) == reloads
    listed = await a.api.ok("GET", f"/v1/appointments?calendar_id={b.calendar_id}")
    assert [x["id"] for x in listed["data"]] == [appt["id"]]


async def test_a_reschedule_to_another_calendar_respects_its_holds_and_members(
    client: TestClient[web.Request, web.Application],
) -> None:
    a = await make_clinic(client)
    b = await _sibling(a, [a.specialist_id])
    stranger = await a.api.specialist("Stranger")
    c = await _sibling(a, [stranger])
    appt = await _booked(a, day_at(2, 9))
    held_at = day_at(2, 14)
    hold = await b.api.ok(
        "POST", "/v1/holds", {"calendar_id": b.calendar_id, "start": z(held_at)},
        role=Role.PATIENT, patient_id=b.patient_id, expect=201,
    )  # fmt: skip

    path = f"/v1/appointments/{appt['id']}/reschedule"
    status, body = await a.api.call(
        "POST", path, {"start": z(held_at), "calendar_id": b.calendar_id}, Role.RECEPTIONIST
    )
    assert status == 409, body
    assert [c["reason"] for c in body["error"]["details"]["conflicts"]] == ["held"]
    status, body = await a.api.call(
        "POST", path, {"start": z(day_at(2, 16)), "calendar_id": c.calendar_id},
        Role.RECEPTIONIST,
    )  # fmt: skip
    assert status == 422, body  # the specialist does not work on that calendar
    status, body = await a.api.call(
        "POST", path, {"start": z(day_at(2, 16)), "calendar_id": str(uuid.uuid4())},
        Role.RECEPTIONIST,
    )  # fmt: skip
    assert status == 422, body

    unchanged = await a.api.ok("GET", f"/v1/appointments/{appt['id']}")
    assert (unchanged["calendar_id"], unchanged["start"]) == (a.calendar_id, z(day_at(2, 9)))
    booked = await b.api.ok(
        "POST", "/v1/appointments", {"hold_id": hold["id"]}, role=Role.PATIENT,
        patient_id=b.patient_id, expect=201,
    )  # fmt: skip
    assert booked["start"] == z(held_at)
