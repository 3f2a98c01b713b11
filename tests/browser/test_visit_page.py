"""The video visit page (/visit) in Chromium with fake cameras: the appointment's patient and
specialist, each in their own browser context, sign in (sent to /signin and back), reach
RTCPeerConnection `connected` peer to peer on this machine (no STUN on loopback) and receive
each other's video (frames decoded, read from getStats); a third member of the clinic is told
the room is not theirs and its channel refuses them. The visit's record then holds both
attendances. Waits are generous; nothing here measures time."""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from server.resources import DB_KEY
from storage.types import Role
from tests.browser.conftest import ARTIFACTS, CHROMIUM, Pages, Site
from tests.integration.identity._world import PASSWORD, Member, add_org
from tests.integration.scheduling.conftest import EVERY_DAY, Api, day_at

LIVE = 20_000  # ms: generous bound for sign-in, ICE and the first frames on a busy machine


@pytest_asyncio.fixture
async def media_pages(request: pytest.FixtureRequest) -> AsyncIterator[Pages]:
    """Contexts of a Chromium whose camera and microphone are fake and always allowed."""
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--disable-gpu",
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ],
        )
        opened = Pages(browser, request.node.name)
        try:
            yield opened
            await opened.screenshots()
        finally:
            await opened.close()
            await browser.close()
    assert not opened.errors, opened.errors


async def sign_in(pages: Pages, site: Site, member: Member, path: str) -> Page:
    page = await pages.new(viewport={"width": 1100, "height": 800})
    await page.context.grant_permissions(["camera", "microphone"], origin=site.url)
    await page.goto(f"{site.url}{path}")
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2Fvisit"), timeout=LIVE)
    await page.locator("input[name=email]").fill(member.email)
    await page.locator("input[name=password]").fill(PASSWORD)
    await page.locator("#form button[type=submit]").click()
    await expect(page).to_have_url(re.compile(r"/visit\?appointment="), timeout=LIVE)
    return page


async def test_patient_and_specialist_connect_and_see_each_other(
    site: Site, media_pages: Pages
) -> None:
    org = await add_org(site.app[DB_KEY], "visit")
    api: Api = dataclasses.replace(await site.api(), org_id=org.id)
    patient, specialist = org.members[Role.PATIENT], org.members[Role.SPECIALIST]
    assert patient.patient_id is not None and specialist.specialist_id is not None
    sid = str(specialist.specialist_id)
    await api.ok("PUT", f"/v1/specialists/{sid}/weekly-hours", {"hours": EVERY_DAY})
    service = await api.service(modality="virtual", name="Video physio")
    calendar = await api.calendar([sid], service_id=service["id"])
    booked = await api.book_one(calendar["id"], str(patient.patient_id), day_at(1, 10), sid)
    # Starting in two minutes: the room is open.
    starts = datetime.now(UTC) + timedelta(minutes=2)
    async with site.app[DB_KEY].platform() as conn:
        await conn.execute(
            "UPDATE appointments SET starts_at = $2, ends_at = $3 WHERE id = $1",
            uuid.UUID(booked["id"]), starts, starts + timedelta(minutes=30),
        )  # fmt: skip
    path = f"/visit?appointment={booked['id']}"

    doctor = await sign_in(media_pages, site, specialist, path)
    await expect(doctor.locator("#status")).to_contain_text("Waiting", timeout=LIVE)
    visitor = await sign_in(media_pages, site, patient, path)
    for page in (doctor, visitor):
        await expect(page.locator("#peer")).to_have_attribute("data-state", "connected",
                                                              timeout=LIVE)  # fmt: skip
        state = await page.evaluate("() => document.querySelector('#peer').dataset.state")
        assert state == "connected"
        # Video frames arrive and are decoded (the page shows getStats' inbound-rtp video).
        await expect(page.locator("#stats")).to_have_attribute(
            "data-frames", re.compile(r"^[1-9][0-9]*$"), timeout=LIVE
        )
        playing = await page.evaluate(
            "() => { const v = document.querySelector('#remote');"
            " return !v.paused && v.readyState >= 2 && v.videoWidth > 0; }"
        )
        assert playing, "the remote video does not play"
    # Mid-call pictures (the fixture's own are taken at the end, after the specialist left).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, page in (("specialist", doctor), ("patient", visitor)):
        await page.screenshot(path=str(ARTIFACTS / f"visit-in-call-{name}.png"))

    # A receptionist of the same clinic is turned away, and the room's channel refuses them.
    desk = org.members[Role.RECEPTIONIST]
    third = await sign_in(media_pages, site, desk, path)
    await expect(third.locator("#error")).to_contain_text("only for", timeout=LIVE)
    code = await third.evaluate(
        """async (channel) => {
            const { CadenceClient } = await import('/static/js/cadence.js');
            const { accessToken } = await import('/static/pages/session.js');
            const c = new CadenceClient(`ws://${location.host}/v1/ws`, { token: accessToken });
            await c.connect();
            try { await c.subscribe(channel); return 'subscribed'; }
            catch (e) { return e.code; } finally { await c.close(); }
        }""",
        f"visit:{booked['id']}",
    )
    assert code == "forbidden", code

    # Both are in the visit's record, in the room together for a while.
    await doctor.locator("#leave").click()
    await expect(doctor.locator("#peer")).to_have_attribute("data-state", "closed", timeout=LIVE)
    record = (await api.ok("GET", f"/v1/appointments/{booked['id']}/visit"))["record"]
    roles = sorted(a["role"] for a in record["attendances"])
    assert roles == ["patient", "specialist"], record
    assert record["together_s"] > 0, record
    await expect(visitor.locator("#status")).to_contain_text("left", timeout=LIVE)
