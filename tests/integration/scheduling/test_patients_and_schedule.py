"""Patient search (trigram, accent- and case-insensitive) and the staff day views."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from storage.types import Role
from tests.integration.scheduling.conftest import Api, day_at, z


async def _search(api: Api, q: str) -> list[str]:
    body = await api.ok("GET", f"/v1/patients?q={quote(q)}", role=Role.RECEPTIONIST)
    return [f"{p['first_name']} {p['last_name']}" for p in body["data"]]


async def test_search_by_name_or_exact_email_and_phone_ignores_accents_and_case(api: Api) -> None:
    await api.patient("Ștefan", "Popescu", email="stefan.p@example.com", phone="+40 721 555 111")
    await api.patient("Ioana", "Mărgărit", email="ioana@clinic.example", phone="0722-333-444")
    await api.patient("Andrei", "Ionescu")
    assert await _search(api, "stefan") == ["Ștefan Popescu"]
    assert await _search(api, "MARGARIT") == ["Ioana Mărgărit"]
    assert await _search(api, "margarti") == ["Ioana Mărgărit"]  # a typo still finds her
    # E-mail and phone are encrypted at rest: found by their exact value (a keyed blind index;
    # case, spaces and punctuation do not matter), never by a fragment.
    assert await _search(api, "IOANA@clinic.example") == ["Ioana Mărgărit"]
    assert await _search(api, "clinic.example") == []
    assert await _search(api, "+40721555111") == ["Ștefan Popescu"]
    assert await _search(api, "0722 333 444") == ["Ioana Mărgărit"]
    assert await _search(api, "721555") == []
    assert set(await _search(api, "io")) >= {"Andrei Ionescu", "Ioana Mărgărit"}
    assert await _search(api, "100%_") == []  # LIKE wildcards in input are literal


async def test_search_pages_and_respects_the_specialists_scope(api: Api) -> None:
    for i in range(3):
        await api.patient("Maria", f"Pop{i}")
    body = await api.ok("GET", "/v1/patients?q=maria&limit=2", role=Role.RECEPTIONIST)
    assert len(body["data"]) == 2 and body["next_cursor"]
    rest = await api.ok("GET", f"/v1/patients?q=maria&limit=2&cursor={body['next_cursor']}")
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    sid = await api.specialist()
    as_specialist = await api.ok(
        "GET", "/v1/patients?q=maria", role=Role.SPECIALIST, specialist_id=uuid.UUID(sid)
    )
    assert as_specialist["data"] == []


async def test_day_grid_and_my_day_show_hours_and_appointments(api: Api) -> None:
    a, b = await api.specialist("Alpha"), await api.specialist("Beta")
    calendar = await api.calendar([a, b])
    patient = await api.patient("Grid", "Patient")
    appt = await api.book_one(calendar["id"], patient, day_at(2, 9), specialist_id=b)
    day = day_at(2, 0).date().isoformat()
    grid = await api.ok("GET", f"/v1/schedule/grid?date={day}", role=Role.RECEPTIONIST)
    assert grid["timezone"] == "UTC"
    columns = {c["name"]: c for c in grid["specialists"]}
    assert columns["Alpha"]["appointments"] == []
    assert columns["Alpha"]["working_hours"] == [
        {"start": z(day_at(2, 8)), "end": z(day_at(2, 20))}
    ]
    (shown,) = columns["Beta"]["appointments"]
    assert shown["id"] == appt["id"] and shown["patient"]["last_name"] == "Patient"
    mine = await api.ok(
        "GET", f"/v1/schedule/my?date={day}", role=Role.SPECIALIST, specialist_id=uuid.UUID(b)
    )
    assert [x["id"] for x in mine["specialist"]["appointments"]] == [appt["id"]]
    status, body = await api.call("GET", "/v1/schedule/grid", role=Role.ADMIN)
    assert status == 422 and "date" in body["error"]["details"]["fields"]
