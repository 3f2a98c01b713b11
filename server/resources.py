"""Typed application keys for the long-lived clients, and their lifecycle (cleanup contexts)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web

from actors import runtime
from server.settings import Settings
from storage.db import Database, with_credentials
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis

log = logging.getLogger("cadence.lifecycle")

SETTINGS_KEY = web.AppKey("settings", Settings)
DB_KEY = web.AppKey("db", Database)
REDIS_KEY = web.AppKey("redis", aioredis.Redis)
KEYS_KEY = web.AppKey("keys", KeySpace)
EVENTS_KEY = web.AppKey("events", EventLog)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    app_dsn = with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    app[DB_KEY] = await Database.connect(settings.database_url, app_dsn)
    yield
    await app[DB_KEY].close()


async def redis_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS_KEY]
    client = create_redis(settings.redis_url)
    keys = KeySpace(settings.redis_prefix)
    app[REDIS_KEY] = client
    app[KEYS_KEY] = keys
    app[EVENTS_KEY] = EventLog(
        client, keys, retention_s=settings.stream_retention_s, maxlen=settings.stream_maxlen
    )
    yield
    await client.aclose()


async def ray_ctx(app: web.Application) -> AsyncIterator[None]:
    started = await asyncio.to_thread(runtime.connect, app[SETTINGS_KEY].ray_address)
    yield
    if started:
        await asyncio.to_thread(runtime.disconnect)
