"""The actor pools and the command facades built on them, with their lifecycle."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator

from aiohttp import web

from actors.pool import ActorPool
from actors.telemetry import TelemetryIngest
from actors.telemetry_commands import TelemetryCommands
from server.resources import DB_KEY, SETTINGS_KEY
from server.settings import Environment, Settings
from storage.db import with_credentials

TELEMETRY_KEY = web.AppKey("telemetry", TelemetryCommands)
POOLS_KEY = web.AppKey("actor_pools", list[ActorPool])


def pool_name(settings: Settings, kind: str) -> str:
    """Actor names are per deployment (per test, in tests), so runs never share actors."""
    scope = re.sub(r"[^A-Za-z0-9]+", "-", settings.redis_prefix).strip("-") or "cadence"
    return f"{scope}-{kind}"


def _shards(configured: int) -> int:
    return configured or os.cpu_count() or 2


async def actors_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    app_dsn = with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    telemetry = ActorPool(
        TelemetryIngest,
        pool_name(settings, "telemetry"),
        settings.ingest_actors,
        (app_dsn,),
        max_pending=400,  # client batches of up to 500 events: at most ~200k events queued
    )
    app[POOLS_KEY] = [telemetry]
    app[TELEMETRY_KEY] = TelemetryCommands(telemetry, app[DB_KEY])
    yield
    # Detached actors outlive one server process so the others keep using them; a test run
    # removes its own.
    kill = settings.env is Environment.TEST
    for pool in app[POOLS_KEY]:
        await pool.stop(kill=kill)
