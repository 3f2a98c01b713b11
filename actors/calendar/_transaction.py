"""A calendar batch's writes in ONE tenant transaction: a busy calendar's bookings, or its front
desk's writes, share one commit (one WAL flush) instead of one each; a refused item rolls back
alone (what it wrote is not kept) and its neighbours commit together.

The batch first runs whole, without a savepoint per item: the shard has already checked each
item against its state, so a refusal is rare, and a savepoint costs two round trips to Postgres
per item (on a busy machine those round trips, not CPU, were most of a batch's time). Only when
an item is refused is that attempt rolled back and the batch run again with each item in its
own savepoint. So `run` must write only through its connection: it may run twice. An item alone
keeps its own transaction. A failure of the transaction itself (the connection, the commit)
answers every item with that failure, and then none was written. Also the domain refusals both
kinds answer."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from actors.calendar import messages as m
from storage.db import TenantPool
from storage.jsonable import jsonable
from storage.scheduling import InvalidReference, NotFound, SlotUnavailable

T = TypeVar("T")
R = TypeVar("R")
# Once the connection is gone no savepoint can be rolled back to: the whole batch fails.
_CONNECTION_LOST = (asyncpg.InterfaceError, OSError, TimeoutError)


async def in_one_transaction(
    pool: TenantPool,
    org_id: uuid.UUID,
    items: Sequence[T],
    run: Callable[[asyncpg.Connection, T], Awaitable[R]],
    answer: Callable[[Exception, T], R],
) -> list[R]:
    """`run` for each item, in order (a later one sees what an earlier one wrote); `answer`
    turns a raised exception into that item's answer, or raises it again when it is not ours."""
    if not items:
        return []
    try:
        async with pool.tenant(org_id, acquire_timeout=5) as conn:
            if len(items) == 1:  # alone, its transaction is its savepoint
                return [await run(conn, items[0])]
            try:
                async with conn.transaction():  # one savepoint around the whole attempt
                    return [await run(conn, item) for item in items]
            except _CONNECTION_LOST:
                raise
            except Exception as exc:
                answer(exc, items[0])  # not ours: raised again, the batch fails as a whole
            return [await _in_savepoint(conn, item, run, answer) for item in items]
    except Exception as exc:
        return [answer(exc, item) for item in items]


async def _in_savepoint(
    conn: asyncpg.Connection,
    item: T,
    run: Callable[[asyncpg.Connection, T], Awaitable[R]],
    answer: Callable[[Exception, T], R],
) -> R:
    try:
        async with conn.transaction():
            return await run(conn, item)
    except _CONNECTION_LOST:
        raise
    except Exception as exc:
        return answer(exc, item)


def refusal(exc: Exception) -> m.Failure | None:
    """The answer to a refusal storage raised for the slot, a reference or the appointment;
    None for anything else."""
    if isinstance(exc, SlotUnavailable):
        return m.slot_unavailable(str(exc), {"conflicts": jsonable(exc.conflicts)})
    if isinstance(exc, InvalidReference):
        return m.invalid(exc.field, exc.message)
    if isinstance(exc, NotFound):
        return m.not_found(exc.entity)
    return None
