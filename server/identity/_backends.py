"""Late-bound handles to the application's clients.

The authenticator, the policy and the rate limiter are built with the app (the middleware and the
WebSocket gateway hold them from the start), while PostgreSQL and Redis connect only when the app
starts. They therefore reach the clients through these providers, at call time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from server.resources import DB_KEY, KEYS_KEY, REDIS_KEY
from storage.db import Database
from storage.keys import KeySpace


@dataclass(frozen=True, slots=True)
class Backends:
    db: Callable[[], Database]
    redis: Callable[[], aioredis.Redis]
    keys: Callable[[], KeySpace]

    @classmethod
    def of_app(cls, app: web.Application) -> Backends:
        return cls(lambda: app[DB_KEY], lambda: app[REDIS_KEY], lambda: app[KEYS_KEY])

    @classmethod
    def fixed(cls, db: Database, redis: aioredis.Redis, keys: KeySpace) -> Backends:
        return cls(lambda: db, lambda: redis, lambda: keys)
