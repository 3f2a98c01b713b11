from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient

from actors.consumers import Context
from server.resources import DB_KEY
from storage.events import StreamPosition
from storage.streams import DomainEvent
from tests.integration.identity._world import World, build_world
from tests.integration.webhooks._receiver import Receiver
from tests.support.consumers import ManualClock, context_of

Client = TestClient[web.Request, web.Application]
_seq = itertools.count(1)


@pytest_asyncio.fixture
async def world(client: Client) -> AsyncIterator[World]:
    yield await build_world(client.app)
    # Deliveries left pending must not reach the next test's sender (one database per session).
    async with client.app[DB_KEY].platform() as conn:
        await conn.execute(
            """UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL
               WHERE status = 'pending'"""
        )


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.close()


@pytest.fixture
def clock() -> ManualClock:
    # Real time to start with: REST calls (replay, endpoint creation) use the wall clock.
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def ctx(client: Client, clock: ManualClock) -> Context:
    return context_of(client.app, clock)


def make_event(
    org_id: uuid.UUID, kind: str = "appointment.booked", at: datetime | None = None, **data: Any
) -> DomainEvent:
    """An organization event as a consumer reads it (ids unique across the session)."""
    offset = f"{int(time.time() * 1000)}-{next(_seq)}"
    return DomainEvent(
        id=f"evt_test_{offset}",
        organization_id=org_id,
        type=kind,
        data={"appointment_id": str(uuid.uuid4()), **data},
        position=StreamPosition(offset, "test"),
        at=at or datetime.now(UTC),
    )
