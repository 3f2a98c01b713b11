"""Invariant 1: no double booking, whatever the path. Two transactions inserting overlapping
appointments for one specialist: exactly one commits; the other gets 23P01 (raw SQL) or 409
slot_unavailable (API), also when the API's engine check could not see the other row yet."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.resources import DB_KEY, SETTINGS_KEY
from storage.db import enter_tenant, with_credentials
from tests.integration.scheduling.conftest import Api, day_at


@pytest_asyncio.fixture
async def app_conns(
    client: TestClient[web.Request, web.Application],
) -> AsyncIterator[list[asyncpg.Connection]]:
    """Two connections as the restricted application role (RLS applies, like the server's)."""
    settings = client.app[SETTINGS_KEY]
    dsn = with_credentials(settings.database_url, "cadence_app", settings.app_db_password)
    conns = [await asyncpg.connect(dsn) for _ in range(2)]
    yield conns
    for conn in conns:
        await conn.close()


async def _setup(api: Api) -> tuple[dict[str, Any], str, str, str]:
    sid = await api.specialist()
    calendar = await api.calendar([sid])
    return calendar, sid, await api.patient("One"), await api.patient("Two")


async def _raw_insert(
    conn: asyncpg.Connection,
    api: Api,
    calendar: dict[str, Any],
    sid: str,
    patient: str,
    start: datetime,
    minutes: int = 60,
    buffers: tuple[int, int] = (0, 0),
) -> None:
    org = api.org_id
    await enter_tenant(conn, api.client.app[DB_KEY].seal, org)
    await conn.execute(
        """INSERT INTO appointments (organization_id, calendar_id, service_id, specialist_id,
             patient_id, starts_at, ends_at, buffer_before_min, buffer_after_min)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        org,
        uuid.UUID(calendar["id"]),
        uuid.UUID(calendar["service_id"]),
        uuid.UUID(sid),
        uuid.UUID(patient),
        start,
        start + timedelta(minutes=minutes),
        *buffers,
    )


async def test_raw_sql_two_overlapping_transactions_exactly_one_commits(
    api: Api, app_conns: list[asyncpg.Connection]
) -> None:
    calendar, sid, p1, p2 = await _setup(api)
    first, second = app_conns
    tx1, tx2 = first.transaction(), second.transaction()
    await tx1.start()
    await tx2.start()
    await _raw_insert(first, api, calendar, sid, p1, day_at(2, 10))
    # The second insert overlaps by 30 minutes; it waits for the first transaction's outcome.
    blocked = asyncio.create_task(_raw_insert(second, api, calendar, sid, p2, day_at(2, 10, 30)))
    await asyncio.sleep(0.3)
    assert not blocked.done()
    await tx1.commit()
    with pytest.raises(asyncpg.ExclusionViolationError) as caught:
        await blocked
    assert caught.value.sqlstate == "23P01"
    await tx2.rollback()


async def test_raw_sql_insert_inside_another_appointments_buffer_is_refused(
    api: Api, app_conns: list[asyncpg.Connection]
) -> None:
    calendar, sid, p1, p2 = await _setup(api)
    conn = app_conns[0]
    async with conn.transaction():
        await _raw_insert(conn, api, calendar, sid, p1, day_at(2, 10), buffers=(0, 15))
    with pytest.raises(asyncpg.ExclusionViolationError):
        async with conn.transaction():  # starts 10 minutes into the first one's after-buffer
            await _raw_insert(conn, api, calendar, sid, p2, day_at(2, 11, 10))
    async with conn.transaction():  # a cancelled appointment holds no time
        await enter_tenant(conn, api.client.app[DB_KEY].seal, api.org_id)
        await conn.execute(
            "UPDATE appointments SET status = 'cancelled' WHERE specialist_id = $1", uuid.UUID(sid)
        )
        await _raw_insert(conn, api, calendar, sid, p2, day_at(2, 10, 30))


async def test_api_booking_blocked_behind_a_raw_transaction_gets_409_slot_unavailable(
    api: Api, app_conns: list[asyncpg.Connection]
) -> None:
    calendar, sid, p1, p2 = await _setup(api)
    conn = app_conns[0]
    tx = conn.transaction()
    await tx.start()
    await _raw_insert(conn, api, calendar, sid, p1, day_at(3, 9))
    # The API's engine check cannot see the uncommitted row; the constraint makes it wait.
    request = asyncio.create_task(api.book(calendar["id"], p2, day_at(3, 9)))
    await asyncio.sleep(0.5)
    assert not request.done()
    await tx.commit()
    status, body = await request
    assert status == 409 and body["error"]["code"] == "slot_unavailable"


async def test_raw_sql_behind_an_api_booking_gets_23p01(
    api: Api, app_conns: list[asyncpg.Connection]
) -> None:
    calendar, sid, p1, p2 = await _setup(api)
    await api.book_one(calendar["id"], p1, day_at(3, 12))
    conn = app_conns[0]
    with pytest.raises(asyncpg.ExclusionViolationError):
        async with conn.transaction():
            await _raw_insert(conn, api, calendar, sid, p2, day_at(3, 12, 59), minutes=5)


async def test_many_concurrent_api_bookings_of_one_time_exactly_one_wins(
    api: Api, client: TestClient[web.Request, web.Application]
) -> None:
    calendar, sid, _, _ = await _setup(api)
    patients = [await api.patient(f"P{i}") for i in range(8)]
    results = await asyncio.gather(
        *(api.book(calendar["id"], p, day_at(4, 15), specialist_id=sid) for p in patients)
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * 7
    assert all(body["error"]["code"] == "slot_unavailable" for s, body in results if s == 409)
    async with client.app[DB_KEY].platform() as pc:
        live = await pc.fetchval(
            "SELECT count(*) FROM appointments WHERE specialist_id = $1 AND status = 'booked'",
            uuid.UUID(sid),
        )
    assert live == 1
