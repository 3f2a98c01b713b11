"""Demo seeder of the identity domain: the demo organization and one login per role.

Runs first (server/seed.py imports it first); later seeders find `demo.organization_id` and, in
`demo.users`, each login's `user_id` and `role` to link specialists and patients to accounts
(their memberships' `specialist_id` and `patient_id`).

Every password is random (the `secrets` module), stored only as its argon2 hash and handed back
once in the seed's result; nothing about it follows from the e-mail. The demo has no platform
superadmin: anyone reading the printed logins would otherwise own every clinic.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg

from server.identity.passwords import Passwords
from server.seed import DemoSeed, seeder
from storage import audit, identity

# (login label, role); the labels make the e-mails readable in the demo output.
DEMO_LOGINS = [
    ("admin", "admin"),
    ("receptionist", "receptionist"),
    ("specialist1", "specialist"),
    ("specialist2", "specialist"),
    ("owner", "owner"),
    ("patient1", "patient"),
    ("patient2", "patient"),
]
DEMO_DOMAIN = "demo.cadence.test"  # reserved TLD: never a real mailbox


def new_demo_password() -> str:
    """A random password of 24 URL-safe characters (144 bits): shown once, never derived."""
    return secrets.token_urlsafe(18)


@seeder
async def seed_identity(conn: asyncpg.Connection, demo: DemoSeed) -> None:
    org = await identity.create_organization(
        name=f"Demo Clinic {demo.suffix}",
        slug=f"demo-{demo.suffix}",
        timezone="Europe/Bucharest",
        language="en",
    )
    org_id = org["id"]
    demo.organization_id = str(org_id)
    created = {k: org[k] for k in ("id", "name", "slug", "timezone", "language")}
    await _audit(conn, org_id, "organization.create", "organization", org_id, created)

    passwords = Passwords()
    logins = [(new_demo_password(), label, role) for label, role in DEMO_LOGINS]
    hashes = await asyncio.gather(*(passwords.hash(password) for password, _, _ in logins))
    for (password, label, role), password_hash in zip(logins, hashes, strict=True):
        email = f"{label}.{demo.suffix}@{DEMO_DOMAIN}"
        user_id = await identity.create_account(email, password_hash, f"Demo {label.capitalize()}")
        await identity.insert_membership(org_id, user_id, role)
        await _audit(conn, org_id, "user.create", "user", user_id, {"email": email, "role": role})
        demo.users.append(
            {"email": email, "password": password, "role": role, "user_id": str(user_id)}
        )


async def _audit(
    conn: asyncpg.Connection,
    org_id: Any,
    action: str,
    entity: str,
    entity_id: Any,
    after: dict[str, Any],
) -> None:
    await audit.record(
        conn,
        actor=audit.SYSTEM,
        organization_id=org_id,
        action=action,
        entity=entity,
        entity_id=entity_id,
        after=after,
    )


class NotADemoLogin(LookupError):
    """The e-mail names no demo login (only demo logins can be reset this way)."""


async def reset_demo_password(conn: asyncpg.Connection, email: str) -> str:
    """Give one demo login a new random password; returns it (the caller shows it once).

    The way back into a demo seeded earlier: its passwords were shown once and are kept only as
    hashes. Limited to the reserved demo domain, so this is no back door to real accounts."""
    if not email.lower().endswith("@" + DEMO_DOMAIN):
        raise NotADemoLogin(email)
    password = new_demo_password()
    found = await identity.replace_password(email, await Passwords().hash(password))
    if found is None:
        raise NotADemoLogin(email)
    user_id, org_id = found
    await _audit(conn, org_id, "user.password_reset", "user", user_id, {"email": email})
    return password
