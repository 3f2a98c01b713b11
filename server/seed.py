"""The demo clinic. Each domain adds a seeder; they run in order inside one platform transaction,
sharing a `DemoSeed` that collects the ids printed by `cadence seed demo` (PROTOCOL.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from storage.crypto import LEGACY, KeyRing
from storage.db import Database
from storage.demo_seed import first_demo_record, keep_demo_record, lock_demo_record


@dataclass
class DemoSeed:
    suffix: str  # makes slugs and e-mails unique, so seeding twice gives two independent clinics
    organization_id: str | None = None
    calendars: list[dict[str, Any]] = field(default_factory=list)
    specialists: list[dict[str, Any]] = field(default_factory=list)
    patients: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # Seals the encrypted columns; None (tests seeding a bare database) stores them tagged as
    # legacy plaintext, which the next `cadence migrate` or `cadence keys rotate` seals.
    keys: KeyRing | None = field(default=None, repr=False)

    def sealed(self, table: str, row_id: Any, values: dict[str, Any]) -> dict[str, Any]:
        from storage.sealed import seal_values, sealed_columns

        if self.keys is not None:
            return seal_values(self.keys, table, row_id, values["organization_id"], values)
        out = dict(values)
        for col in sealed_columns(table):
            if out.get(col.column) is not None:
                out[col.column] = LEGACY + str(out[col.column])
        return out

    def result(self) -> dict[str, Any]:
        """What `cadence seed demo` prints: ids, and each login's password this once."""
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
DOMAIN_ORDER = (
    "server.identity.seed",
    "server.scheduling.seed",
    "server.telerehab.seed",
    "server.records.seed",
    "server.billing.seed",
)


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


def without_passwords(result: dict[str, Any]) -> dict[str, Any]:
    """The seed's result as it may be kept: the logins' passwords exist only in the first print."""
    users = [{k: v for k, v in u.items() if k != "password"} for u in result.get("users", [])]
    return {**result, "users": users}


async def seed_demo(
    db: Database, *, once: bool = False, keys: KeyRing | None = None
) -> dict[str, Any]:
    """Seed a demo clinic; its result carries each login's random password, this one time.

    With `once`, a database that already has a demo gets that demo's record back instead, with
    `"existing": true` and no passwords (they were shown when it was made; see
    `cadence seed demo --reset-password`)."""
    import secrets

    _load_domain_seeders()
    async with db.platform() as conn:
        await lock_demo_record(conn)
        if once:
            previous = await first_demo_record()
            if previous is not None:
                return {**without_passwords(previous), "existing": True}
        demo = DemoSeed(suffix=secrets.token_hex(3), keys=keys)
        for fn in _ordered():
            await fn(conn, demo)
        result = demo.result()
        await keep_demo_record(without_passwords(result))
        return result
