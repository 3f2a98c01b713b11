"""Locations, rooms and equipment (issue #17 item 1): the catalog REST (tenant-checked, admin
writes, staff reads), a service's requirements, bookings that reserve a room of the kind at the
specialist's location and the equipment, releases on cancellation, and the database's proof:
two bookings needing the same room at overlapping times on different specialists give exactly
one, in 100 repetitions, the other a clean 409. A hold reserves them as well (in the calendar
shard): while it lasts, the room is gone from the other calendars' slots, a second hold needing
it is refused (also when both race, 100 times), and the holder's booking always finds it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY
from storage.types import Role
from tests.integration.live.conftest import Clinic
from tests.integration.scheduling.conftest import EVERY_DAY, Api, day_at, z

Client = TestClient[web.Request, web.Application]


async def _location(api: Api, name: str = "Main") -> str:
    created = await api.ok("POST", "/v1/locations", {"name": name}, expect=201)
    return str(created["id"])


async def _room(api: Api, location_id: str, name: str = "Gym 1", kind: str = "gym") -> str:
    body = {"name": name, "kind": kind, "location_id": location_id}
    created = await api.ok("POST", "/v1/rooms", body, expect=201)
    return str(created["id"])


async def _reserved(client: Client, api: Api, appointment_id: str) -> list[dict[str, Any]]:
    async with client.app[DB_KEY].tenant(api.org_id) as conn:
        found = await conn.fetch(
            "SELECT room_id, equipment_id, live FROM appointment_resources"
            " WHERE appointment_id = $1 ORDER BY equipment_id NULLS FIRST",
            uuid.UUID(appointment_id),
        )
    return [dict(r) for r in found]


def _at(location_id: str) -> list[dict[str, Any]]:
    return [{**h, "location_id": location_id} for h in EVERY_DAY]


async def test_catalog_crud_is_admin_written_staff_read_and_audited(api: Api) -> None:
    place = await _location(api)
    room = await _room(api, place)
    gear = await api.ok(
        "POST", "/v1/equipment", {"name": "Shockwave", "location_id": place}, expect=201
    )
    listed = await api.ok("GET", "/v1/rooms", role=Role.RECEPTIONIST)
    assert [r["id"] for r in listed["data"]] == [room]
    assert listed["data"][0]["kind"] == "gym" and listed["data"][0]["location_id"] == place
    assert (await api.ok("GET", f"/v1/equipment/{gear['id']}", role=Role.SPECIALIST))["name"]
    status, body = await api.call(
        "POST", "/v1/rooms", {"name": "X", "kind": "gym", "location_id": place},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    assert status == 403, body
    patched = await api.ok("PATCH", f"/v1/rooms/{room}", {"kind": "treatment"})
    assert patched["kind"] == "treatment"
    await api.ok("DELETE", f"/v1/rooms/{room}", expect=204)
    status, body = await api.call("GET", f"/v1/rooms/{room}")
    assert status == 404 and body["error"]["code"] == "not_found", body
    async with api.client.app[DB_KEY].tenant(api.org_id) as conn:
        actions = await conn.fetch("SELECT action FROM audit_log WHERE entity_id = $1", room)
    assert sorted(a["action"] for a in actions) == ["room.create", "room.delete", "room.update"]


async def test_bad_input_unknown_and_foreign_ids_are_refused(api: Api, other: Api) -> None:
    mine, theirs = await _location(api), await _location(other)
    foreign_gear = await other.ok(
        "POST", "/v1/equipment", {"name": "Treadmill", "location_id": theirs}, expect=201
    )
    foreign_room = await _room(other, theirs)
    for location in (theirs, str(uuid.uuid4())):
        status, body = await api.call(
            "POST", "/v1/rooms", {"name": "R", "kind": "gym", "location_id": location}
        )
        assert status == 422 and "location_id" in body["error"]["details"]["fields"], body
    status, body = await api.call(
        "POST", "/v1/rooms", {"name": "R", "kind": "Gym Room", "location_id": mine}
    )
    assert status == 422, body
    for path in (f"/v1/rooms/{foreign_room}", f"/v1/rooms/{uuid.uuid4()}", "/v1/rooms/nope"):
        status, body = await api.call("GET", path)
        assert status in (404, 422) and status != 500, (path, status, body)
    status, body = await api.call("PATCH", f"/v1/rooms/{foreign_room}", {"name": "Mine now"})
    assert status == 404, body
    service = await api.service()
    path = f"/v1/services/{service['id']}/requirements"
    for gear in (foreign_gear["id"], str(uuid.uuid4())):
        status, body = await api.call("PUT", path, {"room_kind": "gym", "equipment_ids": [gear]})
        assert status == 422 and "equipment_ids" in body["error"]["details"]["fields"], body
    status, body = await api.call(
        "PUT", f"/v1/services/{uuid.uuid4()}/requirements", {"room_kind": None, "equipment_ids": []}
    )
    assert status == 404, body
    sid = await api.specialist()
    status, body = await api.call(
        "PUT", f"/v1/specialists/{sid}/weekly-hours", {"hours": _at(theirs)}
    )
    assert status == 422, body


async def test_a_booking_reserves_a_room_at_the_specialists_location_and_the_equipment(
    client: Client, api: Api
) -> None:
    north, south = await _location(api, "North"), await _location(api, "South")
    north_gym, south_gym = await _room(api, north, "N gym"), await _room(api, south, "S gym")
    gear = await api.ok(
        "POST", "/v1/equipment", {"name": "Treadmill", "location_id": north}, expect=201
    )
    service = await api.service(name="Gait training")
    needs = await api.ok(
        "PUT", f"/v1/services/{service['id']}/requirements",
        {"room_kind": "gym", "equipment_ids": [gear["id"]]},
    )  # fmt: skip
    assert needs == {"service_id": service["id"], "room_kind": "gym", "equipment_ids": [gear["id"]]}
    assert (await api.ok("GET", f"/v1/services/{service['id']}/requirements")) == needs
    ana = await api.specialist("Ana", hours=_at(north))
    hours = await api.ok("GET", f"/v1/specialists/{ana}/weekly-hours")
    assert {h["location_id"] for h in hours["hours"]} == {north}
    calendar = await api.calendar([ana], service_id=service["id"])
    start = day_at(2, 10)
    first = await api.book_one(calendar["id"], await api.patient(), start)
    assert await _reserved(client, api, first["id"]) == [
        {"room_id": uuid.UUID(north_gym), "equipment_id": None, "live": True},
        {"room_id": None, "equipment_id": uuid.UUID(gear["id"]), "live": True},
    ]
    # A service needing only the room, by a specialist at the south site: the south gym.
    gym_only = await api.service(name="Group gym")
    await api.ok(
        "PUT", f"/v1/services/{gym_only['id']}/requirements",
        {"room_kind": "gym", "equipment_ids": []},
    )  # fmt: skip
    bo = await api.specialist("Bo", hours=_at(south))
    south_cal = await api.calendar([bo], service_id=gym_only["id"])
    second = await api.book_one(south_cal["id"], await api.patient(), start)
    assert [r["room_id"] for r in await _reserved(client, api, second["id"])] == [
        uuid.UUID(south_gym)
    ]
    # A north colleague at the same time: the only north gym is taken -> a clean 409.
    cy = await api.specialist("Cy", hours=_at(north))
    north_cal = await api.calendar([cy], service_id=gym_only["id"])
    status, body = await api.book(north_cal["id"], await api.patient(), start)
    assert status == 409 and body["error"]["code"] == "slot_unavailable", body
    # Cancelling the first releases its room and equipment: the colleague books it.
    await api.ok(
        "POST", f"/v1/appointments/{first['id']}/cancel", {"reason": "ill"},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    assert {r["live"] for r in await _reserved(client, api, first["id"])} == {False}
    again = await api.book_one(north_cal["id"], await api.patient(), start)
    assert [r["room_id"] for r in await _reserved(client, api, again["id"])] == [
        uuid.UUID(north_gym)
    ]
    # The front desk's list by room and by location, paged.
    by_room = await api.ok("GET", f"/v1/appointments?room_id={north_gym}&limit=1")
    assert len(by_room["data"]) == 1 and by_room["next_cursor"], by_room
    rest = await api.ok(
        "GET", f"/v1/appointments?room_id={north_gym}&limit=1&cursor={by_room['next_cursor']}"
    )
    assert {a["id"] for a in by_room["data"] + rest["data"]} == {first["id"], again["id"]}
    by_place = await api.ok("GET", f"/v1/appointments?location_id={south}")
    assert [a["id"] for a in by_place["data"]] == [second["id"]]
    status, body = await api.call("GET", "/v1/appointments?room_id=not-a-uuid")
    assert status == 422, body


async def test_two_bookings_needing_the_one_room_give_exactly_one_100_times(
    client: Client, api: Api
) -> None:
    """Different specialists (so only the room is shared), overlapping times (30 minutes
    apart, 60-minute sessions), both sent at once: exactly one 201 and one 409 every time."""
    place = await _location(api)
    await _room(api, place)
    service = await api.service(name="Gym session", duration_min=60)
    await api.ok(
        "PUT", f"/v1/services/{service['id']}/requirements",
        {"room_kind": "gym", "equipment_ids": []},
    )  # fmt: skip
    one, two = await api.specialist("One", _at(place)), await api.specialist("Two", _at(place))
    cal_one = await api.calendar([one], service_id=service["id"], slot_interval_min=30)
    cal_two = await api.calendar([two], service_id=service["id"], slot_interval_min=30)
    patient = await api.patient()
    starts = [day_at(d, h) for d in range(1, 10) for h in range(8, 19)][:100]
    for start in starts:
        later = start.replace(minute=30)
        results = await asyncio.gather(
            api.book(cal_one["id"], patient, start), api.book(cal_two["id"], patient, later)
        )
        statuses = sorted(status for status, _ in results)
        assert statuses == [201, 409], (start, results)
        refused = next(body for status, body in results if status == 409)
        assert refused["error"]["code"] == "slot_unavailable", refused
    async with client.app[DB_KEY].tenant(api.org_id) as conn:
        overlapping = await conn.fetchval(
            """SELECT count(*) FROM appointment_resources a JOIN appointment_resources b
                 ON a.room_id = b.room_id AND a.id < b.id AND a.live AND b.live
                AND tstzrange(a.starts_at, a.ends_at) && tstzrange(b.starts_at, b.ends_at)"""
        )
        live = await conn.fetchval("SELECT count(*) FROM appointment_resources WHERE live")
    assert overlapping == 0 and live == len(starts)


def _starts(listing: dict[str, Any]) -> set[str]:
    return {slot["start"] for slot in listing["slots"]}


async def test_a_taken_room_leaves_the_other_calendars_slots_and_comes_back_live(
    api: Api,
) -> None:
    """The calendar shard lists a slot only when a room of the kind is free: booking the only
    gym through one calendar removes the overlapping starts from another specialist's
    calendar, pushed as a `slots.changed` delta on its channel; cancelling brings them back."""
    place = await _location(api)
    await _room(api, place)
    service = await api.service(name="Gym session", duration_min=60)
    await api.ok(
        "PUT", f"/v1/services/{service['id']}/requirements",
        {"room_kind": "gym", "equipment_ids": []},
    )  # fmt: skip
    one, two = await api.specialist("One", _at(place)), await api.specialist("Two", _at(place))
    cal_one = await api.calendar([one], service_id=service["id"], slot_interval_min=30)
    cal_two = await api.calendar([two], service_id=service["id"], slot_interval_min=30)
    patient = await api.patient()
    other = Clinic(api, cal_two["id"], two, patient)
    frm, to = z(day_at(3, 0)), z(day_at(4, 0))
    before = await other.slots(frm, to)
    near = {z(day_at(3, 9, 30)), z(day_at(3, 10)), z(day_at(3, 10, 30))}
    assert near <= _starts(before)
    booked = await api.book_one(cal_one["id"], patient, day_at(3, 10))
    after = await other.slots(frm, to)
    assert not near & _starts(after)
    assert {z(day_at(3, 9)), z(day_at(3, 11))} <= _starts(after)
    deltas = await other.deltas_since(before["position"])
    assert near <= {gone["start"] for d in deltas for gone in d["removed"]}
    await api.ok(
        "POST", f"/v1/appointments/{booked['id']}/cancel", {"reason": "ill"},
        role=Role.RECEPTIONIST,
    )  # fmt: skip
    assert near <= _starts(await other.slots(frm, to))
    deltas = await other.deltas_since(after["position"])
    assert near <= {back["start"] for d in deltas for back in d["upserted"]}


async def _gym_world(api: Api, rooms: int = 1, specialists: int = 2) -> list[Clinic]:
    """Specialists at one location, each with a calendar of a gym service (60 minutes, a start
    every 30), and `rooms` gyms."""
    place = await _location(api)
    for n in range(rooms):
        await _room(api, place, name=f"Gym {n + 1}")
    service = await api.service(name="Gym session", duration_min=60)
    await api.ok(
        "PUT", f"/v1/services/{service['id']}/requirements",
        {"room_kind": "gym", "equipment_ids": []},
    )  # fmt: skip
    patient = await api.patient()
    out = []
    for n in range(specialists):
        specialist = await api.specialist(f"Specialist {n + 1}", _at(place))
        calendar = await api.calendar([specialist], service_id=service["id"], slot_interval_min=30)
        out.append(Clinic(api, calendar["id"], specialist, patient))
    return out


async def test_a_hold_reserves_the_room_until_it_is_booked_or_released(api: Api) -> None:
    first, other = await _gym_world(api)
    frm, to = z(day_at(3, 0)), z(day_at(4, 0))
    near = {z(day_at(3, 9, 30)), z(day_at(3, 10)), z(day_at(3, 10, 30))}
    before = await other.slots(frm, to)
    assert near <= _starts(before)

    status, held = await first.hold(day_at(3, 10))
    assert status == 201, held
    during = await other.slots(frm, to)
    assert not near & _starts(during), "a held room is not offered to another specialist"
    assert {z(day_at(3, 9)), z(day_at(3, 11))} <= _starts(during)
    deltas = await other.deltas_since(before["position"])
    assert near <= {gone["start"] for d in deltas for gone in d["removed"]}
    status, body = await other.hold(day_at(3, 10, 30))
    assert status == 409 and body["error"]["code"] == "slot_unavailable", body

    # Released: the room is back for the other calendar, pushed as a delta.
    await api.ok("DELETE", f"/v1/holds/{held['id']}", expect=204)
    assert near <= _starts(await other.slots(frm, to))
    deltas = await other.deltas_since(during["position"])
    assert near <= {back["start"] for d in deltas for back in d["upserted"]}

    # Held again and booked: the booking takes the room the hold kept for it.
    status, held = await first.hold(day_at(3, 10))
    assert status == 201, held
    appointment = await api.ok(
        "POST", "/v1/appointments", {"hold_id": held["id"], "patient_id": first.patient_id},
        expect=201,
    )  # fmt: skip
    assert appointment["status"] == "booked"
    assert not near & _starts(await other.slots(frm, to))


async def test_two_holds_needing_the_one_room_give_exactly_one_100_times(api: Api) -> None:
    """Both at once, on different specialists' calendars, overlapping by 30 minutes: one hold
    and one clean 409 every time; the granted one always books."""
    one, two = await _gym_world(api)
    starts = [day_at(d, h) for d in range(1, 10) for h in range(8, 19)][:100]
    for start in starts:
        results = await asyncio.gather(one.hold(start), two.hold(start.replace(minute=30)))
        assert sorted(status for status, _ in results) == [201, 409], (start, results)
        refused = next(body for status, body in results if status == 409)
        assert refused["error"]["code"] == "slot_unavailable", refused
        granted = next(body for status, body in results if status == 201)
        status, booked = await api.call(
            "POST", "/v1/appointments", {"hold_id": granted["id"], "patient_id": one.patient_id}
        )
        assert status == 201, booked


async def test_with_two_rooms_two_holds_fit_and_the_third_specialist_waits(api: Api) -> None:
    one, two, three = await _gym_world(api, rooms=2, specialists=3)
    frm, to, ten = z(day_at(2, 0)), z(day_at(3, 0)), z(day_at(2, 10))
    status, a = await one.hold(day_at(2, 10))
    assert status == 201, a
    assert ten in _starts(await three.slots(frm, to)), "one gym is still free"
    status, b = await two.hold(day_at(2, 10))
    assert status == 201, b
    assert ten not in _starts(await three.slots(frm, to)), "both gyms are held"
    status, body = await three.hold(day_at(2, 10))
    assert status == 409, body
    await api.ok("DELETE", f"/v1/holds/{a['id']}", expect=204)
    assert ten in _starts(await three.slots(frm, to))


async def test_catalog_edits_reach_the_loaded_calendars_at_once(api: Api) -> None:
    """Rooms and requirements are edited over REST, outside the shard: the shard is told once
    the edit commits, so a loaded calendar's slots follow without waiting for a reload."""
    one, two = await _gym_world(api)
    frm, to = z(day_at(3, 0)), z(day_at(4, 0))
    near = {z(day_at(3, 9, 30)), z(day_at(3, 10)), z(day_at(3, 10, 30))}
    await api.book_one(one.calendar_id, one.patient_id, day_at(3, 10))
    assert not near & _starts(await two.slots(frm, to))  # loaded, the only gym taken

    places = await api.ok("GET", "/v1/locations")
    await _room(api, places["data"][0]["id"], name="Gym 2")
    assert near <= _starts(await two.slots(frm, to)), "the new gym is offered at once"

    service = (await api.ok("GET", f"/v1/calendars/{two.calendar_id}"))["service_id"]
    path = f"/v1/services/{service}/requirements"
    await api.ok("PUT", path, {"room_kind": "pool", "equipment_ids": []})
    assert _starts(await two.slots(frm, to)) == set(), "no pool anywhere: nothing to offer"
    await api.ok("PUT", path, {"room_kind": None, "equipment_ids": []})
    assert near <= _starts(await two.slots(frm, to)), "no requirement: every start is back"


async def test_a_class_needs_its_room_for_the_first_seat_and_its_participants_share_it(
    api: Api,
) -> None:
    """A class of 4 in the only gym, and one-to-one gym sessions with another specialist: a
    one-to-one booking takes the class's start away; the class's first seat (held) takes the
    gym from the one-to-one calendar; more seats share it; the last seat released frees it."""
    (solo,) = await _gym_world(api, specialists=1)
    place = (await api.ok("GET", "/v1/locations"))["data"][0]["id"]
    group_service = await api.service(name="Back class", duration_min=60, capacity=4)
    await api.ok(
        "PUT", f"/v1/services/{group_service['id']}/requirements",
        {"room_kind": "gym", "equipment_ids": []},
    )  # fmt: skip
    coach = await api.specialist("Coach", _at(place))
    calendar = await api.calendar([coach], service_id=group_service["id"])
    group = Clinic(api, calendar["id"], coach, solo.patient_id)
    frm, to = z(day_at(2, 0)), z(day_at(3, 0))
    one_pm, two_pm = z(day_at(2, 13)), z(day_at(2, 14))
    assert {one_pm, two_pm} <= _starts(await group.slots(frm, to))

    # A one-to-one session in the gym at 13:00: the class cannot start then.
    await api.book_one(solo.calendar_id, solo.patient_id, day_at(2, 13))
    assert one_pm not in _starts(await group.slots(frm, to))
    status, body = await group.hold(day_at(2, 13))
    assert status == 409, body

    # The class's first seat at 14:00 takes the gym; the second seat shares it.
    status, first = await group.hold(day_at(2, 14))
    assert status == 201, first
    assert two_pm not in _starts(await solo.slots(frm, to))
    status, second = await group.hold(day_at(2, 14))
    assert status == 201, second
    listed = await group.slots(frm, to)
    seats = next(s for s in listed["slots"] if s["start"] == two_pm)
    assert seats["seats_left"] == 2, seats
    # The first seat's release leaves the gym with the session's other seat.
    await api.ok("DELETE", f"/v1/holds/{first['id']}", expect=204)
    assert two_pm not in _starts(await solo.slots(frm, to))
    await api.ok("DELETE", f"/v1/holds/{second['id']}", expect=204)
    assert two_pm in _starts(await solo.slots(frm, to))
