"""Revenue by location: a visit counts where the room it reserved stands, else where its
specialist works that day; a line without a visit (a product, a manual line) has no location."""

from __future__ import annotations

from typing import Any

from tests.integration.billing.conftest import completed, draft, manual_line
from tests.integration.scheduling.conftest import EVERY_DAY, Api


async def _place(api: Api, name: str) -> str:
    created = await api.ok("POST", "/v1/locations", {"name": name}, expect=201)
    return str(created["id"])


async def _invoiced(api: Api, world: dict[str, str], hour: int) -> None:
    appointment = await completed(api, world, hour=hour)
    invoice = await draft(api, world["patient"])
    body = {"source": "appointment", "appointment_id": appointment}
    await api.ok("POST", f"/v1/invoices/{invoice['id']}/lines", body, expect=201)
    await api.ok("POST", f"/v1/invoices/{invoice['id']}/issue")


async def test_revenue_groups_visits_by_the_location_they_took_place_at(api: Api) -> None:
    north, south = await _place(api, "North"), await _place(api, "South")
    await api.ok("POST", "/v1/rooms",
                 {"name": "Gym N", "kind": "gym", "location_id": north}, expect=201)  # fmt: skip
    patient = await api.patient()

    # A gym class: its room is at North, whatever the specialist's hours say.
    gym = await api.service(name="Gym", price={"amount": 10000, "currency": "EUR"})
    await api.ok(
        "PUT", f"/v1/services/{gym['id']}/requirements", {"room_kind": "gym", "equipment_ids": []}
    )
    coach = await api.specialist("Coach")
    gym_calendar = await api.calendar([coach], service_id=gym["id"])
    # A consultation needing no room, by a specialist who works at South every day.
    consult = await api.service(name="Consult", price={"amount": 20000, "currency": "EUR"})
    doctor = await api.specialist("Doc", hours=[{**h, "location_id": south} for h in EVERY_DAY])
    consult_calendar = await api.calendar([doctor], service_id=consult["id"])

    await _invoiced(api, {"calendar": gym_calendar["id"], "patient": patient}, hour=9)
    await _invoiced(api, {"calendar": consult_calendar["id"], "patient": patient}, hour=11)
    await _invoiced(api, {"calendar": consult_calendar["id"], "patient": patient}, hour=13)
    loose = await draft(api, patient)
    await manual_line(api, loose["id"], unit_price=500, tax_rate_bp=0)
    await api.ok("POST", f"/v1/invoices/{loose['id']}/issue")

    report: dict[str, Any] = await api.ok("GET", "/v1/reports/revenue?group_by=location")
    assert report["columns"][0] == "location", report
    rows = {row[0]: row for row in report["rows"]}
    assert set(rows) == {"North", "South", "(no location)"}, rows
    invoices, net = report["columns"].index("invoices"), report["columns"].index("net")
    counts = [int(rows[name][invoices]) for name in ("North", "South", "(no location)")]
    assert counts == [1, 2, 1], rows
    assert float(rows["(no location)"][net]) == 5.0, rows
