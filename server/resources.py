"""Typed application keys for the long-lived clients, and their lifecycle (cleanup contexts)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from aiohttp import web

from actors import runtime
from server.settings import Settings
from storage.blobs import (
    BlobStore,
    BlobStoreConfigError,
    LinkSigner,
    LocalBlobStore,
    S3BlobStore,
    S3Config,
)
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
BLOBS_KEY = web.AppKey("blobs", BlobStore)
# The download route of the local store's signed links (server/records/blob_links.py).
BLOB_LINK_BASE = "/v1/blobs"


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
    runtime.reclaim_shutdown_signals()
    yield
    if started:
        await asyncio.to_thread(runtime.disconnect)


@asynccontextmanager
async def open_blob_store(settings: Settings) -> AsyncIterator[BlobStore]:
    """The blob store of these settings, started: S3 when a bucket is named, else the local
    directory. A store that cannot be used fails with one line naming what is wrong
    (BlobStoreConfigError). The one place a store is built from settings: the server and
    `cadence seed demo` (its rendered document) use the same store."""
    if settings.s3_bucket:
        s3 = S3BlobStore(
            S3Config(
                bucket=settings.s3_bucket,
                endpoint_url=settings.s3_endpoint_url,
                public_endpoint_url=settings.s3_public_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
            )
        )
        await s3.start()
        try:
            yield s3
        finally:
            await s3.close()
        return
    if not settings.blob_dir:
        raise BlobStoreConfigError("object storage: set CADENCE_S3_BUCKET or CADENCE_BLOB_DIR")
    local = LocalBlobStore(
        settings.blob_dir, LinkSigner.from_secret(settings.secret), link_base=BLOB_LINK_BASE
    )
    await local.start()
    yield local


async def blobs_ctx(app: web.Application) -> AsyncIterator[None]:
    """The server's blob store (open_blob_store), for its lifetime."""
    async with open_blob_store(app[SETTINGS_KEY]) as blobs:
        app[BLOBS_KEY] = blobs
        yield
