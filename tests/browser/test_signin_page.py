"""Sign-in from a page: the refresh token is an HttpOnly, Secure, SameSite=Strict cookie scoped
to /pages/auth; the access token stays in the page's memory (never in storage or a cookie a
script can read); a reload signs in again from the cookie; other origins cannot use it."""

from __future__ import annotations

from typing import Any

import aiohttp
from playwright.async_api import expect

from server.resources import DB_KEY
from storage.types import Role
from tests.browser.conftest import Pages, Site
from tests.integration.identity._world import PASSWORD, add_org


async def test_the_cookie_flow_keeps_the_access_token_out_of_scripts_reach(
    site: Site, pages: Pages
) -> None:
    org = await add_org(site.app[DB_KEY], "pages")
    admin = org.members[Role.ADMIN]
    page = await pages.new()
    await page.goto(f"{site.url}/signin")
    await expect(page.locator("#signin")).to_be_visible(timeout=15_000)

    await page.locator("input[name=email]").fill(admin.email)
    await page.locator("input[name=password]").fill(PASSWORD)
    async with page.expect_response("**/pages/auth/login") as answer:
        await page.locator("#form button[type=submit]").click()
    body: dict[str, Any] = await (await answer.value).json()
    access = body["access_token"]
    assert "refresh_token" not in body

    await expect(page.locator("#role")).to_have_text("admin", timeout=10_000)
    await expect(page.locator("#socket")).to_have_text("Live connection: open", timeout=10_000)

    cookies = await page.context.cookies()
    [refresh] = [c for c in cookies if c["name"] == "cadence_refresh"]
    assert refresh["httpOnly"] and refresh["secure"]
    assert (refresh["sameSite"], refresh["path"]) == ("Strict", "/pages/auth")
    assert all(access not in c["value"] for c in cookies)
    [csrf] = [c for c in cookies if c["name"] == "cadence_csrf"]
    visible: dict[str, str] = await page.evaluate(
        """() => ({
            cookie: document.cookie,
            local: JSON.stringify({ ...localStorage }),
            session: JSON.stringify({ ...sessionStorage }),
        })"""
    )
    # Scripts see only the double-submit value: no token of any kind.
    assert visible == {"cookie": f"cadence_csrf={csrf['value']}", "local": "{}", "session": "{}"}

    # A reload has no token in memory: the cookie signs the page in again (on http://127.0.0.1,
    # which Chromium treats as a secure context, so the Secure cookie is sent).
    await page.reload()
    await expect(page.locator("#role")).to_have_text("admin", timeout=10_000)

    # The cookie works only for pages of this server: the right Origin and the csrf value.
    async with aiohttp.ClientSession() as http:
        url = f"{site.url}/pages/auth/refresh"
        jar = {"cadence_refresh": refresh["value"], "cadence_csrf": csrf["value"]}
        good = {"csrf": csrf["value"]}
        for origin, body in (
            ("http://evil.example", good),
            (None, good),
            (site.url, {"csrf": "x" * 32}),
        ):
            headers = {"Origin": origin} if origin else {}
            async with http.post(url, cookies=jar, headers=headers, json=body) as response:
                assert response.status == 403, (origin, body)

    await page.locator("#signout").click()
    await expect(page.locator("#signin")).to_be_visible(timeout=10_000)
    assert not [c for c in await page.context.cookies() if c["name"] == "cadence_refresh"]
    await page.reload()
    await expect(page.locator("#signin")).to_be_visible(timeout=10_000)


async def test_a_wrong_password_is_refused_on_the_page(site: Site, pages: Pages) -> None:
    org = await add_org(site.app[DB_KEY], "pages")
    page = await pages.new()
    await page.goto(f"{site.url}/signin")
    await page.locator("input[name=email]").fill(org.members[Role.ADMIN].email)
    await page.locator("input[name=password]").fill("not the password")
    await page.locator("#form button[type=submit]").click()
    await expect(page.locator("#error")).to_have_text("Wrong e-mail or password.", timeout=10_000)
    assert not [c for c in await page.context.cookies() if c["name"] == "cadence_refresh"]
