"""The actor pools and the command facades built on them, with their lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from actors import ActorPool
from actors.calendar import CalendarCommands, CalendarShard, ShardOptions
from actors.documents import Renderer, RendererOptions
from actors.pose import PoseWorker, SessionCommands, WorkerOptions
from actors.telemetry import TelemetryCommands, TelemetryIngest
from server.resources import DB_KEY, KEYS_KEY, REDIS_KEY, SETTINGS_KEY
from server.settings import Environment, Settings
from storage.db import AppDatabase, with_credentials

TELEMETRY_KEY = web.AppKey("telemetry", TelemetryCommands)
CALENDARS_KEY = web.AppKey("calendars", CalendarCommands)
POOLS_KEY = web.AppKey("actor_pools", list[ActorPool])
SESSIONS_KEY = web.AppKey("sessions", SessionCommands)
# Tests and the bench may put their own pose worker options here before the app starts.
POSE_OPTIONS_KEY = web.AppKey("pose_options", WorkerOptions)
# The PDF renderer (worker processes, not Ray actors); tests and the bench may put their own
# options here before the app starts.
DOCUMENTS_KEY = web.AppKey("documents", Renderer)
RENDERER_OPTIONS_KEY = web.AppKey("renderer_options", RendererOptions)


def pool_name(settings: Settings, kind: str) -> str:
    """Actor names are per deployment (per test, in tests), so runs never share actors."""
    scope = re.sub(r"[^A-Za-z0-9]+", "-", settings.redis_prefix).strip("-") or "cadence"
    return f"{scope}-{kind}"


log = logging.getLogger("cadence.actors")


async def _warm(pools: Sequence[ActorPool]) -> None:
    """Start every pool's actors now rather than on their first request: a first start spawns
    worker processes and rebuilds the shards from Postgres (seconds, more on a busy machine),
    which the first visitor of a booking page would otherwise wait out. In the background, so
    the server answers meanwhile; a request that arrives first joins the same start."""
    for pool in pools:
        try:
            await pool.ensure_started()
        except Exception as exc:  # the pool starts again on its first request
            log.warning("actor pool warm-up failed", extra={"pool": pool.name, "error": repr(exc)})


def _shards(configured: int) -> int:
    return configured or os.cpu_count() or 2


async def actors_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    app_db = AppDatabase(
        with_credentials(settings.database_url, "cadence_app", settings.app_db_password),
        app[DB_KEY].seal,
    )
    telemetry = ActorPool(
        TelemetryIngest,
        pool_name(settings, "telemetry"),
        _shards(settings.ingest_actors),
        (app_db, settings.bulk_niceness),
        max_pending=400,  # client batches of up to 500 events: at most ~200k events queued
    )
    calendars = ActorPool(
        CalendarShard,
        pool_name(settings, "calendar"),
        _shards(settings.calendar_shards),
        (
            app_db,
            settings.redis_url,
            settings.redis_prefix,
            ShardOptions(
                retention_s=settings.stream_retention_s,
                maxlen=settings.stream_maxlen,
                keys=settings.data_keys,
            ),
        ),
        retry_window_s=6.0,  # requests wait this long for a restarting shard, then 503
    )
    pose_options = app.get(POSE_OPTIONS_KEY) or WorkerOptions(
        retention_s=settings.stream_retention_s, maxlen=settings.stream_maxlen
    )
    pose = ActorPool(
        PoseWorker,
        pool_name(settings, "pose"),
        _shards(settings.pose_workers),
        (app_db, settings.redis_url, settings.redis_prefix, pose_options),
        retry_window_s=6.0,  # frames of a session wait this long for a restarting worker
    )
    app[POOLS_KEY] = [telemetry, calendars, pose]
    app[SESSIONS_KEY] = SessionCommands(pose)
    app[TELEMETRY_KEY] = TelemetryCommands(telemetry)
    app[CALENDARS_KEY] = CalendarCommands(calendars, app[REDIS_KEY], app[KEYS_KEY], app[DB_KEY].app)
    app[CALENDARS_KEY].start()
    options = RendererOptions(
        workers=settings.document_workers, max_in_flight=settings.document_queue
    )
    renderer = Renderer(app.get(RENDERER_OPTIONS_KEY) or options)
    # Tests start many apps and render in few: their workers start on the first render.
    await renderer.start(warm=settings.env is not Environment.TEST)
    app[DOCUMENTS_KEY] = renderer
    # Tests start many apps, most of which touch one pool or none: they start on first use.
    pools: list[ActorPool] = app[POOLS_KEY]
    warming = None if settings.env is Environment.TEST else asyncio.create_task(_warm(pools))
    yield
    if warming is not None:
        warming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await warming
    await renderer.close()
    await app[CALENDARS_KEY].stop()
    # Detached actors outlive one server process so the others keep using them; a test run
    # removes its own.
    kill = settings.env is Environment.TEST
    for pool in app[POOLS_KEY]:
        await pool.stop(kill=kill)
