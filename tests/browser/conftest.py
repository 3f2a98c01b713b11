"""Browser fixtures: a real Cadence server on a free port (real Postgres, Redis, Ray), Debian's
Chromium driven by Playwright, and a screenshot of every page at the end of its test, kept in
.artifacts/screenshots/ (git-ignored).

Chromium is /usr/bin/chromium (installed by `make services`, server/devstack.py); Playwright's
own browser downloads are never used. A missing browser fails the test with a message rather
than skipping it."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from server import tokens
from server.app import create_app
from server.settings import Settings
from storage.types import Role
from tests.integration.conftest import database_url as database_url
from tests.integration.conftest import mail_dir as mail_dir
from tests.integration.conftest import ray_session as ray_session
from tests.integration.conftest import run_prefix as run_prefix
from tests.integration.conftest import settings as settings
from tests.integration.scheduling.conftest import Api, new_org

CHROMIUM = os.environ.get("CADENCE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"


class Site:
    """One Cadence server on a real port; `restart()` stops it and starts a new app on the same
    port (the same database and Redis prefix), as a deploy would."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._server: TestServer | None = None
        self._clients: list[TestClient[web.Request, web.Application]] = []
        self.port = 0

    @property
    def app(self) -> web.Application:
        assert self._server is not None
        return self._server.app

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        server = TestServer(create_app(self.settings), host="127.0.0.1", port=self.port or None)
        await server.start_server()
        self._server = server
        self.port = server.port or 0

    async def stop(self) -> None:
        for client in self._clients:
            await client.session.close()
        self._clients.clear()
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def token(self, role: Role, org_id: uuid.UUID, **claims: Any) -> str:
        return tokens.issue(self.settings.secret, role=role, org_id=org_id, **claims)

    async def api(self) -> Api:
        """The scheduling tests' API helper, on a fresh organization of this server."""
        assert self._server is not None
        client: TestClient[web.Request, web.Application] = TestClient(self._server)
        await client.start_server()
        self._clients.append(client)
        return Api(client, await new_org(self.app))


@pytest_asyncio.fixture
async def site(settings: Settings) -> AsyncIterator[Site]:
    running = Site(settings)
    await running.start()
    yield running
    await running.stop()


async def public_calendar(api: Api, **overrides: Any) -> str:
    """A public calendar whose one specialist works every day 08:00-20:00 UTC, 60-minute slots."""
    specialist = await api.specialist()
    created = await api.calendar([specialist], **overrides)
    calendar_id: str = created["id"]
    return calendar_id


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 - one stat, before the browser starts
        pytest.fail(
            f"{CHROMIUM} is missing: run `make services` (it apt-installs chromium) or set "
            "CADENCE_CHROMIUM to a Chromium binary"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--disable-gpu", "--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


class Pages:
    """New browser contexts (separate visitors: own cookies, storage and sockets), each page
    photographed at the end of the test."""

    def __init__(self, browser: Browser, test_name: str) -> None:
        self._browser = browser
        self._name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.pages: list[Page] = []
        self.contexts: list[BrowserContext] = []
        self.errors: list[str] = []

    async def new(self, **options: Any) -> Page:
        context = await self._browser.new_context(**options)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.pages.append(page)
        return page

    async def screenshots(self) -> list[Path]:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        taken = []
        for i, page in enumerate(self.pages):
            if page.is_closed():
                continue
            path = ARTIFACTS / f"{self._name}-{i + 1}.png"
            await page.screenshot(path=str(path), full_page=True)
            taken.append(path)
        return taken

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()


@pytest_asyncio.fixture
async def pages(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Pages]:
    opened = Pages(browser, request.node.name)
    try:
        yield opened
        await opened.screenshots()
    finally:
        await opened.close()
    # Uncaught errors of a page's scripts fail its test, even when the page looked right.
    assert not opened.errors, opened.errors


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
