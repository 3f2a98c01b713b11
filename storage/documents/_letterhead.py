"""The clinic's letterhead: what every document prints at its head and foot."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from pipelines.documents import Letterhead
from storage.errors import Invalid
from storage.orm import first
from storage.tables import Organizations
from storage.tables._documents import DocumentLetterheads

# field -> longest value (the migration's CHECKs say the same)
LIMITS: Mapping[str, int] = {"clinic_name": 200, "address": 500, "phone": 50, "footer": 300}
_L = DocumentLetterheads


async def clinic_letterhead(org_id: uuid.UUID) -> tuple[Letterhead, str]:
    """(letterhead, the organization's time zone): the clinic's own name unless the letterhead
    names it otherwise."""
    org = await first(
        Organizations.select(Organizations.name, Organizations.timezone)
        .where(Organizations.id == org_id)
        .first()
    )
    row = await get_letterhead()
    name = (row or {}).get("clinic_name") or (org["name"] if org else "")
    head = Letterhead(
        clinic_name=name,
        address=(row or {}).get("address"),
        phone=(row or {}).get("phone"),
        footer=(row or {}).get("footer"),
    )
    return head, (org["timezone"] if org else "UTC") or "UTC"


async def get_letterhead() -> dict[str, Any] | None:
    """The transaction's organization's letterhead row, None when it never set one."""
    return await first(
        _L.select(_L.clinic_name, _L.address, _L.phone, _L.footer, _L.updated_at).first()
    )


def _clean(values: Mapping[str, Any]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name, limit in LIMITS.items():
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            errors[name] = "must be a string or null"
            continue
        text = value.strip() if value else None
        if text and len(text) > limit:
            errors[name] = f"must be at most {limit} characters"
        out[name] = text or None
    if errors:
        raise Invalid(errors)
    return out


async def put_letterhead(
    conn: asyncpg.Connection, values: Mapping[str, Any], by: uuid.UUID | None
) -> dict[str, Any]:
    """Replace the letterhead (a field left out or blank is cleared); the stored row."""
    clean = _clean(values)
    # ON CONFLICT: one row per clinic, created by its first PUT.
    row = await conn.fetchrow(
        """INSERT INTO document_letterheads (clinic_name, address, phone, footer, updated_by)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (organization_id) DO UPDATE
              SET clinic_name = excluded.clinic_name, address = excluded.address,
                  phone = excluded.phone, footer = excluded.footer, updated_at = now(),
                  updated_by = excluded.updated_by
           RETURNING clinic_name, address, phone, footer, updated_at""",
        clean["clinic_name"],
        clean["address"],
        clean["phone"],
        clean["footer"],
        by,
    )
    assert row is not None
    return dict(row.items())
