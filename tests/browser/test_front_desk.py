"""The front desk page (/desk) in Chromium: a clinic admin signs in (sent to /signin and back),
a booking made through the REST API shows in the day grid live, and check-in and cancel (with a
reason from the clinic's list) clicked on the page change the appointments, checked through REST;
a guest's booking request shows on the grid (with the room it took) and is confirmed or
declined from it.

Waits are generous (10 s) so a busy machine cannot fail them; nothing here measures time."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, expect

from server.resources import DB_KEY
from storage.types import Role
from tests.browser.conftest import Pages, Site
from tests.integration.identity._world import PASSWORD, Member, add_org
from tests.integration.scheduling.conftest import Api, day_at, z

LIVE = 10_000  # ms: generous bound for a push to reach the page


async def sign_in_to_desk(pages: Pages, site: Site, admin: Member) -> Page:
    page = await pages.new(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    await page.goto(f"{site.url}/desk")
    # Not signed in: sent to the sign-in page, which sends the admin back.
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2Fdesk$"), timeout=15_000)
    await page.locator("input[name=email]").fill(admin.email)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.locator("#form button[type=submit]").click()
    await expect(page).to_have_url(re.compile(r"/desk(\?date=[0-9-]+)?$"), timeout=15_000)
    await expect(page.locator("#live")).to_have_text("live", timeout=15_000)
    return page


async def test_the_grid_is_live_and_check_in_and_cancel_work_from_the_page(
    site: Site, pages: Pages
) -> None:
    org = await add_org(site.app[DB_KEY], "desk")
    api: Api = dataclasses.replace(await site.api(), org_id=org.id)
    specialist = await api.specialist("Dr. Ana Ionescu")
    calendar_id = (await api.calendar([specialist], name="Physiotherapy"))["id"]
    maria = await api.patient("Maria", "Popescu")
    ion = await api.patient("Ion", "Marin")
    await api.ok(
        "POST", "/v1/cancellation-reasons", {"code": "ill", "label": "Patient is ill"}, expect=201
    )

    waiting = {"patient_id": maria, "calendar_id": calendar_id, "from": z(day_at(2, 8)),
               "to": z(day_at(2, 18)), "priority": "urgent"}  # fmt: skip
    await api.ok("POST", "/v1/waitlist", waiting, expect=201)

    page = await sign_in_to_desk(pages, site, org.members[Role.ADMIN])
    column = page.locator(f'.column[data-specialist="{specialist}"]')
    await expect(column).to_contain_text("Dr. Ana Ionescu", timeout=LIVE)
    # The waitlist names its patients, urgent first.
    await expect(page.locator("#waitlist-list li")).to_contain_text(
        ["Urgent · Maria Popescu"], timeout=LIVE
    )

    # Tomorrow, through the date picker: the specialist works every day 08:00-20:00 UTC.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    await page.locator("#date").fill(tomorrow)
    await expect(page).to_have_url(re.compile(rf"date={tomorrow}$"), timeout=LIVE)
    await expect(column.locator(".appt")).to_have_count(0, timeout=LIVE)

    # Booked through the API, not the page: the staff channel brings it to the grid.
    first = await api.book_one(calendar_id, maria, day_at(1, 10), specialist)
    second = await api.book_one(calendar_id, ion, day_at(1, 12), specialist)
    card = column.locator(f'.appt[data-id="{first["id"]}"]')
    await expect(card).to_contain_text("Maria Popescu", timeout=LIVE)
    await expect(card.locator(".status")).to_have_text("booked")
    await expect(column.locator(".appt")).to_have_count(2, timeout=LIVE)

    await card.locator("button.check-in").click()
    await expect(card.locator(".status")).to_have_text("checked in", timeout=LIVE)
    await expect(card.locator("button.check-in")).to_have_count(0)
    checked = await api.ok("GET", f"/v1/appointments/{first['id']}")
    assert checked["status"] == "checked_in", checked

    # Reschedule by the form: the new start is read in the browser's zone (UTC here).
    other = column.locator(f'.appt[data-id="{second["id"]}"]')
    await other.locator("button.move").click()
    await page.locator("#move-form input[name=start]").fill(f"{tomorrow}T14:00")
    await page.locator("#move-confirm").click()
    await expect(page.locator("#move-dialog")).to_be_hidden(timeout=LIVE)
    await expect(other.locator(".when")).to_contain_text(re.compile(r"0?2:00|14:00"), timeout=LIVE)
    moved = await api.ok("GET", f"/v1/appointments/{second['id']}")
    assert moved["start"] == z(day_at(1, 14)), moved

    # Cancel with a reason from the clinic's list.
    await other.locator("button.cancel").click()
    dialog = page.locator("#cancel-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("#cancel-reason option")).to_have_text(["Patient is ill"])
    await dialog.locator("#cancel-reason").select_option(label="Patient is ill")
    await dialog.locator("#cancel-confirm").click()
    await expect(dialog).to_be_hidden(timeout=LIVE)
    await expect(other.locator(".status")).to_have_text("cancelled", timeout=LIVE)
    cancelled = await api.ok("GET", f"/v1/appointments/{second['id']}")
    assert cancelled["status"] == "cancelled", cancelled
    history = await api.ok("GET", f"/v1/patients/{ion}/cancellations")
    assert [c["reason"] for c in history["data"]] == ["ill"], history

    # A walk-in, back on today's grid: booked now and checked in at once.
    await page.locator("#today").click()
    await expect(column.locator(".appt")).to_have_count(0, timeout=LIVE)
    form = page.locator("#walk-in-form")
    await form.locator("select[name=calendar_id]").select_option(label="Physiotherapy")
    await form.locator("input[name=first_name]").fill("Elena")
    await form.locator("input[name=last_name]").fill("Walker")
    await form.locator("input[name=phone]").fill("+40 711 222 333")
    await page.locator("#walk-in-submit").click()
    await expect(page.locator("#walk-in-done")).to_contain_text("is checked in", timeout=LIVE)
    walked = column.locator(".appt", has_text="Elena Walker")
    await expect(walked.locator(".status")).to_have_text("checked in", timeout=LIVE)
    # The dashboard's cards count today's walk-in (the appointments of tomorrow do not).
    checked_in_card = page.locator('#cards [data-card="checked_in"] strong')
    await expect(checked_in_card).to_have_text("1", timeout=LIVE)


async def test_a_patient_is_not_given_the_desk(site: Site, pages: Pages) -> None:
    org = await add_org(site.app[DB_KEY], "desk")
    page = await pages.new()
    await page.goto(f"{site.url}/desk")
    await expect(page).to_have_url(re.compile(r"/signin\?next="), timeout=15_000)
    await page.locator("input[name=email]").fill(org.members[Role.PATIENT].email)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.locator("#form button[type=submit]").click()
    await expect(page.locator("#error")).to_contain_text(
        "administrators and receptionists", timeout=15_000
    )
    await expect(page.locator(".column")).to_have_count(0)
    await expect(page.locator("#walk-in-form")).to_be_hidden()


async def _guest_request(api: Api, calendar_id: str, start: datetime, email: str) -> str:
    """A guest's public booking on a calendar that takes requests: an appointment `requested`."""
    hold = await api.client.post(
        "/v1/public/holds", json={"calendar_id": calendar_id, "start": z(start)}
    )
    held = await hold.json()
    assert hold.status == 201, held
    contact = {"name": "Guest Person", "email": email, "phone": "+40 700 000 009"}
    body = {"hold_id": held["id"], "hold_token": held["hold_token"], "contact": contact}
    booked = await api.client.post("/v1/public/bookings", json=body)
    appointment = await booked.json()
    assert booked.status == 201 and appointment["status"] == "requested", appointment
    appointment_id: str = appointment["id"]
    return appointment_id


async def test_the_desk_confirms_and_declines_guest_requests(site: Site, pages: Pages) -> None:
    org = await add_org(site.app[DB_KEY], "desk-requests")
    api: Api = dataclasses.replace(await site.api(), org_id=org.id)
    specialist = await api.specialist("Dr. Ana Ionescu")
    # The service needs a treatment room: the grid names the room each appointment took.
    place = await api.ok("POST", "/v1/locations", {"name": "Central"}, expect=201)
    room = {"name": "Treatment 1", "kind": "treatment", "location_id": place["id"]}
    await api.ok("POST", "/v1/rooms", room, expect=201)
    service = await api.service(name="Shockwave", duration_min=60)
    needs = {"room_kind": "treatment", "equipment_ids": []}
    await api.ok("PUT", f"/v1/services/{service['id']}/requirements", needs)
    calendar = await api.calendar([specialist], name="Shockwave", service_id=service["id"])
    calendar_id = calendar["id"]
    await api.ok("PUT", "/v1/public-booking/policy", {"calendars": {calendar_id: "request"}})
    page = await sign_in_to_desk(pages, site, org.members[Role.ADMIN])
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    await page.locator("#date").fill(tomorrow)
    await expect(page).to_have_url(re.compile(rf"date={tomorrow}$"), timeout=LIVE)

    kept = await _guest_request(api, calendar_id, day_at(1, 9), "first.guest@example.test")
    refused = await _guest_request(api, calendar_id, day_at(1, 11), "second.guest@example.test")
    column = page.locator(f'.column[data-specialist="{specialist}"]')
    first = column.locator(f'.appt[data-id="{kept}"]')
    second = column.locator(f'.appt[data-id="{refused}"]')
    await expect(first.locator(".status")).to_have_text("request", timeout=LIVE)
    await expect(second.locator(".status")).to_have_text("request", timeout=LIVE)
    await expect(first.locator("button.check-in")).to_have_count(0)  # not booked yet

    await first.locator("button.confirm").click()
    await expect(first.locator(".status")).to_have_text("booked", timeout=LIVE)
    await expect(first.locator(".room")).to_have_text("Treatment 1", timeout=LIVE)
    await expect(first.locator("button.confirm")).to_have_count(0)
    await second.locator("button.decline").click()
    await expect(second.locator(".status")).to_have_text("cancelled", timeout=LIVE)
    confirmed = await api.ok("GET", f"/v1/booking-requests/{kept}")
    declined = await api.ok("GET", f"/v1/booking-requests/{refused}")
    assert confirmed["status"] == "booked" and confirmed["request"]["status"] == "confirmed"
    assert declined["status"] == "cancelled" and declined["request"]["status"] == "declined"
