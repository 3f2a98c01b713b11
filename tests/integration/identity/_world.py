"""Two organizations with one member of every role each, and a superadmin: the cast of the
identity, access-matrix and RLS tests. Built on the platform path, with one password hash shared
by everyone (hashing is the slow part)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from server import tokens
from server.identity.passwords import Passwords
from server.resources import DB_KEY, SETTINGS_KEY
from storage.db import Database
from storage.types import Role

PASSWORD = "correct horse battery staple"
MEMBER_ROLES = (Role.ADMIN, Role.RECEPTIONIST, Role.SPECIALIST, Role.OWNER, Role.PATIENT)
_hash_cache: dict[str, str] = {}


@dataclass(frozen=True)
class Member:
    user_id: uuid.UUID
    email: str
    role: Role
    org_id: uuid.UUID | None
    patient_id: uuid.UUID | None = None
    specialist_id: uuid.UUID | None = None


@dataclass
class Org:
    id: uuid.UUID
    slug: str
    members: dict[Role, Member] = field(default_factory=dict)


@dataclass
class World:
    a: Org
    b: Org
    superadmin: Member
    secret: str

    def token(self, member: Member, ttl_s: int = 600) -> str:
        return tokens.issue(
            self.secret,
            role=member.role,
            org_id=member.org_id,
            user_id=member.user_id,
            patient_id=member.patient_id,
            specialist_id=member.specialist_id,
            ttl_s=ttl_s,
        )

    def headers(self, member: Member) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(member)}"}


async def password_hash() -> str:
    if PASSWORD not in _hash_cache:
        _hash_cache[PASSWORD] = await Passwords().hash(PASSWORD)
    return _hash_cache[PASSWORD]


async def add_user(
    db: Database, email: str, *, superadmin: bool = False, hashed: str | None = None
) -> uuid.UUID:
    async with db.platform() as conn:
        user_id: uuid.UUID = await conn.fetchval(
            """INSERT INTO users (email, password_hash, display_name, is_superadmin)
               VALUES ($1, $2, $3, $4) RETURNING id""",
            email,
            hashed if hashed is not None else await password_hash(),
            email.partition("@")[0],
            superadmin,
        )
    return user_id


async def add_org(db: Database, label: str) -> Org:
    slug = f"{label}-{secrets.token_hex(4)}"
    async with db.platform() as conn:
        org_id = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ($1, $2) RETURNING id", label, slug
        )
    org = Org(org_id, slug)
    for role in MEMBER_ROLES:
        email = f"{role.value}.{slug}@example.test"
        user_id = await add_user(db, email)
        async with db.platform() as conn:
            # A membership links only to its own organization's rows (composite foreign keys).
            patient_id = specialist_id = None
            if role is Role.PATIENT:
                patient_id = await conn.fetchval(
                    """INSERT INTO patients (organization_id, first_name, last_name)
                       VALUES ($1, 'World', 'Patient') RETURNING id""",
                    org_id,
                )
            if role is Role.SPECIALIST:
                specialist_id = await conn.fetchval(
                    """INSERT INTO specialists (organization_id, name, timezone)
                       VALUES ($1, 'World Specialist', 'UTC') RETURNING id""",
                    org_id,
                )
            await conn.execute(
                """INSERT INTO memberships
                     (organization_id, user_id, role, patient_id, specialist_id)
                   VALUES ($1, $2, $3, $4, $5)""",
                org_id,
                user_id,
                role.value,
                patient_id,
                specialist_id,
            )
        org.members[role] = Member(user_id, email, role, org_id, patient_id, specialist_id)
    return org


async def build_world(app: web.Application) -> World:
    db = app[DB_KEY]
    a, b = await add_org(db, "org-a"), await add_org(db, "org-b")
    email = f"root.{secrets.token_hex(4)}@example.test"
    root = Member(await add_user(db, email, superadmin=True), email, Role.SUPERADMIN, None)
    return World(a, b, root, app[SETTINGS_KEY].secret)


async def audit_rows(db: Database, **where: object) -> list[dict[str, Any]]:
    """Audit rows matching column = value, oldest first (platform path: any organization)."""
    clauses = [f"{name} = ${i}" for i, name in enumerate(where, start=1)]
    async with db.platform() as conn:
        rows = await conn.fetch(
            f"SELECT * FROM audit_log WHERE {' AND '.join(clauses)} ORDER BY created_at",
            *where.values(),
        )
    return [dict(r) for r in rows]
