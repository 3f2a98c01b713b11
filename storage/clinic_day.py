"""The clinic's today: dates a clinic sees (due dates, report periods) are days in its own zone,
not UTC's. Between midnight UTC and the clinic's midnight the two differ by a day."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

# The zone is read in the same statement as the date it shapes, inside the caller's tenant
# transaction (app_org_id()), so a zone edited meanwhile can never pair with the wrong clinic.
ZONE_SQL = "coalesce((SELECT timezone FROM organizations WHERE id = app_org_id()), 'UTC')"
_TODAY = f"SELECT ($1::timestamptz AT TIME ZONE {ZONE_SQL})::date"


async def clinic_today(conn: asyncpg.Connection, now: datetime) -> date:
    """The caller's clinic's date at `now`."""
    day: date = await conn.fetchval(_TODAY, now)
    return day
