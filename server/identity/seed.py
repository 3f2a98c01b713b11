"""Demo seeder of the identity domain: the demo organization and one login per role.

Runs first (server/seed.py imports it first); later seeders find `demo.organization_id` and, in
`demo.users`, each login's `user_id` and `role` to link specialists and patients to accounts
(`UPDATE memberships SET specialist_id = ... WHERE user_id = ...`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from server.identity.passwords import Passwords
from server.seed import DemoSeed, seeder
from storage import audit

# (login label, role); the labels make e-mails and passwords readable in the demo output.
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


@seeder
async def seed_identity(conn: asyncpg.Connection, demo: DemoSeed) -> None:
    org = await conn.fetchrow(
        """INSERT INTO organizations (name, slug, timezone, language)
           VALUES ($1, $2, 'Europe/Bucharest', 'en')
           RETURNING id, name, slug, timezone, language""",
        f"Demo Clinic {demo.suffix}",
        f"demo-{demo.suffix}",
    )
    org_id = org["id"]
    demo.organization_id = str(org_id)
    await _audit(conn, org_id, "organization.create", "organization", org_id, dict(org))

    passwords = Passwords()
    logins = [(f"{label}-{demo.suffix}-demo", label, role) for label, role in DEMO_LOGINS]
    logins.append((f"superadmin-{demo.suffix}-demo", "superadmin", "superadmin"))
    hashes = await asyncio.gather(*(passwords.hash(password) for password, _, _ in logins))
    for (password, label, role), password_hash in zip(logins, hashes, strict=True):
        email = f"{label}.{demo.suffix}@{DEMO_DOMAIN}"
        user_id = await conn.fetchval(
            """INSERT INTO users (email, password_hash, display_name, is_superadmin)
               VALUES ($1, $2, $3, $4) RETURNING id""",
            email,
            password_hash,
            f"Demo {label.capitalize()}",
            role == "superadmin",
        )
        if role != "superadmin":  # a platform account, member of no organization
            await conn.execute(
                """INSERT INTO memberships (organization_id, user_id, role)
                   VALUES ($1, $2, $3)""",
                org_id,
                user_id,
                role,
            )
            await _audit(
                conn, org_id, "user.create", "user", user_id, {"email": email, "role": role}
            )
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
