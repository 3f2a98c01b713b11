"""A consumer worker for the crash tests: `python -m tests.support.consumer_proc NAME ORG KEY`
runs a Runner with a RecordingHandler over one organization's stream until killed. Settings
come from the environment, as for `cadence consume`."""

from __future__ import annotations

import asyncio
import sys
import uuid

from actors.consumers import Context, Runner, RunnerOptions, SystemClock
from server.settings import Settings
from storage.db import Database, with_credentials
from storage.events import EventLog
from storage.keys import KeySpace
from storage.redis import create_redis
from tests.support.consumers import RecordingHandler


async def main(name: str, org: uuid.UUID, key: str) -> None:
    settings = Settings.from_env()
    app_dsn = with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    db = await Database.connect(settings.database_url, app_dsn, app_size=2, platform_size=2)
    redis = create_redis(settings.redis_url)
    keys = KeySpace(settings.redis_prefix)
    ctx = Context(db, redis, keys, EventLog(redis, keys), settings.data_keys, SystemClock())
    handler = RecordingHandler(redis, key, delay_s=0.002)
    options = RunnerOptions(
        batch=20, block_ms=200, retry_idle_s=1.0, claim_every_s=0.5, only=frozenset({org})
    )
    runner = Runner(ctx, [handler], [], consumer=name, options=options)
    runner.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], uuid.UUID(sys.argv[2]), sys.argv[3]))
