"""Identity-provider subjects linked to our accounts (`external_identities`). The table belongs
to no organization: links are made and removed on the platform path, and a provider token is
resolved before any organization is known, through a SECURITY DEFINER function."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from storage.orm import rows
from storage.tables import ExternalIdentities

Row = dict[str, Any]


async def external_candidates(conn: asyncpg.Connection, issuer: str, subject: str) -> list[Row]:
    """The enabled memberships (user_id, organization_id, role, patient_id, specialist_id) of
    the account linked to (issuer, subject), earliest first; none when there is no link (any
    transaction)."""
    records = await conn.fetch(
        "SELECT * FROM identity_external_candidates($1, $2)", issuer, subject
    )
    return [dict(r) for r in records]


async def link_subject(issuer: str, subject: str, user_id: uuid.UUID) -> Row:
    """Platform path: link (issuer, subject) to the account. Returns the link as stored
    (issuer, subject, user_id, created_at): when the subject was linked already, the existing
    link, whose user_id may be another account's."""
    link = ExternalIdentities(issuer=issuer, subject=subject, user_id=user_id)
    query = (
        ExternalIdentities.insert(link)
        # A no-op update, so that RETURNING also answers with a link that already existed.
        .on_conflict(
            target=(ExternalIdentities.issuer, ExternalIdentities.subject),
            action="DO UPDATE",
            values=[ExternalIdentities.issuer],
        )
        .returning(
            ExternalIdentities.issuer,
            ExternalIdentities.subject,
            ExternalIdentities.user_id,
            ExternalIdentities.created_at,
        )
    )
    (stored,) = await rows(query)
    return stored


async def unlink_subjects(issuer: str, user_id: uuid.UUID) -> list[str]:
    """Platform path: remove the account's links to the issuer; returns their subjects."""
    removed = await rows(
        ExternalIdentities.delete()
        .where((ExternalIdentities.issuer == issuer) & (ExternalIdentities.user_id == user_id))
        .returning(ExternalIdentities.subject)
    )
    return [r["subject"] for r in removed]
