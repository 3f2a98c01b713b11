"""The demo clinic. Each domain adds a seeder; they run in order inside one platform transaction,
sharing a `DemoSeed` that collects the ids printed by `cadence seed demo` (PROTOCOL.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from storage.db import Database


@dataclass
class DemoSeed:
    suffix: str  # makes slugs and e-mails unique, so seeding twice gives two independent clinics
    organization_id: str | None = None
    calendars: list[dict[str, Any]] = field(default_factory=list)
    specialists: list[dict[str, Any]] = field(default_factory=list)
    patients: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def result(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "calendars": self.calendars,
            "specialists": self.specialists,
            "patients": self.patients,
            "users": self.users,
            **self.extra,
        }


Seeder = Callable[[asyncpg.Connection, DemoSeed], Awaitable[None]]
SEEDERS: list[Seeder] = []


def seeder(fn: Seeder) -> Seeder:
    SEEDERS.append(fn)
    return fn


# Seeders run in this order of their modules (later domains use earlier ones' rows), whatever
# order the modules happened to be imported in.
DOMAIN_ORDER = ("server.identity.seed", "server.scheduling.seed", "server.telerehab.seed")


def _ordered() -> list[Seeder]:
    def rank(fn: Seeder) -> int:
        module = getattr(fn, "__module__", "")
        return DOMAIN_ORDER.index(module) if module in DOMAIN_ORDER else len(DOMAIN_ORDER)

    return sorted(SEEDERS, key=rank)


def _load_domain_seeders() -> None:
    # Domains register their seeders on import.
    import importlib

    for module in DOMAIN_ORDER:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise


async def seed_demo(db: Database, *, once: bool = False) -> dict[str, Any]:
    import secrets

    _load_domain_seeders()
    async with db.platform() as conn:
        await conn.execute("LOCK TABLE demo_seed IN EXCLUSIVE MODE")
        if once:
            previous = await conn.fetchval("SELECT result FROM demo_seed ORDER BY id LIMIT 1")
            if previous is not None:
                return dict(previous)
        demo = DemoSeed(suffix=secrets.token_hex(3))
        for fn in _ordered():
            await fn(conn, demo)
        result = demo.result()
        await conn.execute("INSERT INTO demo_seed (result) VALUES ($1)", result)
        return result
