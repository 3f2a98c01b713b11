"""Events out, composed: which consumers and pumps run, with which options from the settings, in
`cadence serve` (CADENCE_CONSUMERS=on) or in a `cadence consume` worker process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from actors import dashboard
from actors.automations import AutomationHandler
from actors.billing import OverduePump
from actors.consumers import Context, Handler, Pump, Runner, RunnerOptions, SystemClock
from actors.notifications import pumps as notification_pumps
from actors.webhooks import SENDER as WEBHOOK_SENDER
from actors.webhooks import webhook_handler, webhook_sender
from server.notifications.options import options_for as notification_options
from server.resources import DB_KEY, EVENTS_KEY, KEYS_KEY, REDIS_KEY, SETTINGS_KEY
from server.settings import Settings
from server.webhooks.options import options_for as webhook_options
from storage.db import Database, with_credentials
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis

log = logging.getLogger("cadence.consumers")
RUNNER_KEY = web.AppKey("consumers", Runner)


class _Bell:
    """Lets a handler ring a pump of its own runner (`Runner.wake`) once the runner exists:
    work a handler queued goes out at once rather than at the pump's next idle poll."""

    def __init__(self) -> None:
        self.runner: Runner | None = None

    def ring(self, pump: str) -> None:
        if self.runner is not None:
            self.runner.wake(pump)


def families(ctx: Context, settings: Settings, bell: _Bell) -> tuple[list[Handler], list[Pump]]:
    """Every consumer group and pump of the product, built with their options."""
    webhooks = webhook_options(settings)
    projection = dashboard.DashboardProjection(ctx)
    handlers: list[Handler] = [
        webhook_handler(ctx, webhooks, on_queued=lambda: bell.ring(WEBHOOK_SENDER)),
        projection,
        AutomationHandler(ctx),
    ]
    pumps: list[Pump] = [
        webhook_sender(ctx, webhooks),
        dashboard.AttentionPump(ctx, projection),
        OverduePump(ctx),
        *(factory(ctx) for factory in notification_pumps(notification_options(settings))),
    ]
    return handlers, pumps


def consumer_name(settings: Settings) -> str:
    """Stable per worker when the operator names it (a restart then reads its own pending
    entries first); otherwise host and process."""
    return settings.consumer_name or f"{socket.gethostname()}-{os.getpid()}"


def runner_for(ctx: Context, settings: Settings, *, options: RunnerOptions | None = None) -> Runner:
    bell = _Bell()
    handlers, pumps = families(ctx, settings, bell)
    bell.runner = Runner(ctx, handlers, pumps, consumer=consumer_name(settings), options=options)
    return bell.runner


async def consumers_ctx(app: web.Application) -> AsyncIterator[None]:
    """In-process consumers of `cadence serve`, when the settings ask for them."""
    settings = app[SETTINGS_KEY]
    if not settings.consumers:
        yield
        return
    ctx = Context(
        db=app[DB_KEY],
        redis=app[REDIS_KEY],
        keys=app[KEYS_KEY],
        events=app[EVENTS_KEY],
        keyring=settings.data_keys,
        clock=SystemClock(),
    )
    runner = runner_for(ctx, settings)
    app[RUNNER_KEY] = runner
    runner.start()
    yield
    await runner.stop()


@asynccontextmanager
async def worker_context(settings: Settings, *, pool_size: int = 4) -> AsyncIterator[Context]:
    """The services of a consumer process of its own (`cadence consume`), closed on exit."""
    app_dsn = with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    db = await Database.connect(
        settings.database_url, app_dsn, app_size=pool_size, platform_size=pool_size
    )
    redis = create_redis(settings.redis_url)
    keys = KeySpace(settings.redis_prefix)
    events = EventLog(
        redis, keys, retention_s=settings.stream_retention_s, maxlen=settings.stream_maxlen
    )
    try:
        yield Context(db, redis, keys, events, settings.data_keys, SystemClock())
    finally:
        with contextlib.suppress(Exception):
            await redis.aclose()
        await db.close()


async def run_worker(settings: Settings) -> None:
    """`cadence consume`: the consumers alone, until SIGTERM or SIGINT."""
    async with worker_context(settings) as ctx:
        runner = runner_for(ctx, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        runner.start()
        log.info("consumers started", extra={"consumer": runner.consumer})
        try:
            await stop.wait()
        finally:
            await runner.stop()
