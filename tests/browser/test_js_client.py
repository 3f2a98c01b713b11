"""The JavaScript client in Chromium: across a real server restart it reconnects by itself,
resumes from its position and receives every event once, in order (events published while the
server was down included)."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.async_api import Page

from server.resources import EVENTS_KEY
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis
from storage.types import Channel, ChannelName
from tests.browser.conftest import Pages, Site, public_calendar

SUBSCRIBE = """async ({ calendarId }) => {
  const { CadenceClient } = await import("/static/js/cadence.js");
  const seen = (window.__seen = []);
  const states = (window.__states = []);
  window.__resyncs = 0;
  const client = new CadenceClient(`ws://${location.host}/v1/ws`,
    { backoffMinMs: 200, backoffMaxMs: 1000 });
  client.addEventListener("state", (e) => states.push(e.detail.state));
  await client.connect();
  await client.subscribe(`calendar:${calendarId}`, {
    onEvent: (event) => { if (event.type === "test.tick") seen.push(event.data.i); },
    onResync: () => { window.__resyncs += 1; },
  });
  window.__client = client;
}"""


async def seen(page: Page) -> list[int]:
    result: list[int] = await page.evaluate("() => window.__seen")
    return result


async def wait_seen(page: Page, count: int) -> None:
    # Functions, not expression strings: the page's CSP forbids eval.
    await page.wait_for_function("(n) => window.__seen.length >= n", arg=count, timeout=20_000)


async def publish(events: EventLog, channel: ChannelName, numbers: range) -> None:
    for i in numbers:
        await events.publish(channel, "test.tick", {"i": i})


async def test_the_client_resumes_without_loss_across_a_server_restart(
    site: Site, pages: Pages
) -> None:
    calendar_id = await public_calendar(await site.api())
    channel = Channel.calendar(uuid.UUID(calendar_id)).name
    page = await pages.new()
    await page.goto(f"{site.url}/signin")
    await page.evaluate(SUBSCRIBE, {"calendarId": calendar_id})

    await publish(site.app[EVENTS_KEY], channel, range(0, 5))
    await wait_seen(page, 5)

    await site.stop()
    # While no server runs: the client keeps trying; the events wait in the channel's stream.
    redis = create_redis(site.settings.redis_url)
    try:
        await publish(EventLog(redis, KeySpace(site.settings.redis_prefix)), channel, range(5, 10))
    finally:
        await redis.aclose()
    await page.wait_for_function("() => window.__states.includes('reconnecting')", timeout=10_000)
    await site.start()

    await page.wait_for_function(
        "() => window.__states.filter((s) => s === 'open').length >= 2", timeout=30_000
    )
    await wait_seen(page, 10)
    await publish(site.app[EVENTS_KEY], channel, range(10, 15))
    await wait_seen(page, 15)

    assert await seen(page) == list(range(15))
    state: dict[str, Any] = await page.evaluate(
        "() => ({ resyncs: window.__resyncs, connections: window.__client.connections })"
    )
    assert state == {"resyncs": 0, "connections": 2}
    await page.evaluate("() => window.__client.close()")
