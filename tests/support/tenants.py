"""Rows a test needs in other domains' tables, written as the schema owner (set-up only)."""

from __future__ import annotations

import secrets
import uuid

import asyncpg


async def make_org(dsn: str) -> uuid.UUID:
    conn = await asyncpg.connect(dsn)
    try:
        slug = f"t-{secrets.token_hex(5)}"
        org_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO organizations (name, slug) VALUES ($1, $1) RETURNING id", slug
        )
        return org_id
    finally:
        await conn.close()


async def make_patient(dsn: str, org_id: uuid.UUID, *, consent_analytics: bool = True) -> uuid.UUID:
    """A patient; `consent_analytics`: with an analytics consent in the ledger (it is opt-in)."""
    conn = await asyncpg.connect(dsn)
    try:
        patient: uuid.UUID = await conn.fetchval(
            """INSERT INTO patients (organization_id, first_name, last_name)
               VALUES ($1, 'Test', 'Patient') RETURNING id""",
            org_id,
        )
        if consent_analytics:
            await record_consent(dsn, org_id, patient, "analytics", conn=conn)
        return patient
    finally:
        await conn.close()


async def record_consent(
    dsn: str,
    org_id: uuid.UUID,
    patient_id: uuid.UUID,
    purpose: str,
    *,
    granted: bool = True,
    conn: asyncpg.Connection | None = None,
) -> None:
    """A consent decision in the patient's ledger (set-up only; the API path is
    POST /v1/patients/{id}/consents)."""
    own = conn is None
    conn = conn or await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """INSERT INTO patient_consents (organization_id, patient_id, purpose, policy_version,
                                             granted, channel)
               VALUES ($1, $2, $3, 'test', $4, 'paper')""",
            org_id,
            patient_id,
            purpose,
            granted,
        )
    finally:
        if own:
            await conn.close()
