"""Dead letters of the stream consumers: an event a consumer group gave up on after its attempts,
kept with the last error in `event_dead_letters` for an operator to read (and publish again by
hand). Written on the platform path (the consumers work across organizations)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg


async def record(
    conn: asyncpg.Connection,
    *,
    organization_id: uuid.UUID,
    group: str,
    event_id: str,
    event_type: str,
    payload: Mapping[str, Any],
    error: str,
    attempts: int,
) -> None:
    """One row per (group, event); a second give-up of the same event (two consumers racing on
    the last attempt) updates the error instead of adding a row."""
    await conn.execute(
        """
        INSERT INTO event_dead_letters
          (organization_id, group_name, event_id, event_type, payload, error, attempts)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (organization_id, group_name, event_id)
        DO UPDATE SET error = EXCLUDED.error, attempts = EXCLUDED.attempts,
                      created_at = clock_timestamp()
        """,
        organization_id,
        group,
        event_id,
        event_type,
        dict(payload),
        error,
        attempts,
    )
