"""Rows a test needs in other domains' tables, written as the schema owner (set-up only)."""

from __future__ import annotations

import secrets
import uuid

import asyncpg


async def make_org(dsn: str) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        slug = f"t-{secrets.token_hex(5)}"
        return await conn.fetchval(  # type: ignore[no-any-return]
            "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id", slug
        )
    finally:
        await conn.close()


async def make_patient(dsn: str, org_id: uuid.UUID, *, consent_analytics: bool = True) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(  # type: ignore[no-any-return]
            """INSERT INTO patients (organization_id, first_name, last_name, consent_analytics)
               VALUES ($1, 'Test', 'Patient', $2) RETURNING id""",
            org_id,
            consent_analytics,
        )
    finally:
        await conn.close()
