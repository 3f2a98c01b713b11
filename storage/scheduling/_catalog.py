"""The catalog's rows (specialties, services, specialists, calendars, patients) as the REST
resources read and write them: one row by id, a page in creation order, insert, update, delete.

Generic over the Piccolo tables. A table with `deleted_at` is soft-deleted: its deleted rows are
invisible here, and deleting one sets `deleted_at` (and `active = false` where the table has that
flag) instead of removing it. Everything runs on the bound tenant transaction, so row-level
security scopes it. Piccolo throughout, but for a page whose select list is raw SQL from storage
(a nested part aggregated per row, such as a calendar's members).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from piccolo.custom_types import Combinable
from piccolo.querystring import QueryString
from piccolo.table import Table

from storage.orm import first, rows
from storage.tables import Calendars

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Keyset:
    """Where a page in creation order resumes: next to the row with this (created_at, id)."""

    created_at: datetime
    id: uuid.UUID


def _has(table: type[Table], column: str) -> bool:
    return any(c._meta.name == column for c in table._meta.columns)


def _id(table: type[Table]) -> Any:
    return table._meta.get_column_by_name("id")


def _alive(table: type[Table]) -> Combinable | None:
    if not _has(table, "deleted_at"):
        return None
    return table._meta.get_column_by_name("deleted_at").is_null()


def _one(table: type[Table], row_id: uuid.UUID) -> Combinable:
    where: Combinable = _id(table) == row_id
    alive = _alive(table)
    return where if alive is None else where & alive


def _now() -> datetime:
    return datetime.now(UTC)


async def get_row(table: type[Table], row_id: uuid.UUID, *, lock: bool = False) -> Row | None:
    """The row (all columns), None for a missing or soft-deleted one; `lock`: FOR UPDATE."""
    query = table.select().where(_one(table, row_id))
    return await first((query.lock_rows() if lock else query).first())


async def insert_row(table: type[Table], values: Mapping[str, Any]) -> Row:
    """Insert one row of column values (unset columns take the table's defaults); the row."""
    created = await rows(table.insert(table(**values)).returning(*table.all_columns()))
    return created[0]


async def update_row(
    table: type[Table], row_id: uuid.UUID, values: Mapping[str, Any]
) -> Row | None:
    """Set column values (and updated_at); the row after, None for a missing or deleted one."""
    changes: dict[Any, Any] = {table._meta.get_column_by_name(k): v for k, v in values.items()}
    changes[table._meta.get_column_by_name("updated_at")] = _now()
    changed = await rows(
        table.update(changes).where(_one(table, row_id)).returning(*table.all_columns())
    )
    return changed[0] if changed else None


async def delete_row(table: type[Table], row_id: uuid.UUID) -> Row | None:
    """Delete the row (soft where the table keeps deleted rows); the row as it was deleted,
    None for a missing or already deleted one."""
    if _alive(table) is None:
        gone = await rows(
            table.delete().where(_id(table) == row_id).returning(*table.all_columns())
        )
        return gone[0] if gone else None
    now = _now()
    changes: dict[Any, Any] = {
        table._meta.get_column_by_name("deleted_at"): now,
        table._meta.get_column_by_name("updated_at"): now,
    }
    if _has(table, "active"):
        changes[table._meta.get_column_by_name("active")] = False
    deleted = await rows(
        table.update(changes).where(_one(table, row_id)).returning(*table.all_columns())
    )
    return deleted[0] if deleted else None


async def page_rows(
    table: type[Table],
    limit: int,
    after: Keyset | None,
    *,
    where: Combinable | None = None,
    select: str | None = None,
) -> list[Row]:
    """Up to `limit` rows in creation order (created_at, id), after `after`; alive ones only.

    `where` narrows the rows (Piccolo); `select`, raw SQL from storage over the table as `t`
    (e.g. `t.*, <an aggregate of a nested part> AS members`), replaces the select list, and
    cannot be combined with `where`."""
    if select is not None:
        return await _raw_page(table, limit, after, select, where)
    created, row_id = table._meta.get_column_by_name("created_at"), _id(table)
    conditions = [c for c in (_alive(table), where) if c is not None]
    if after is not None:
        conditions.append(
            (created > after.created_at) | ((created == after.created_at) & (row_id > after.id))
        )
    query = table.select().order_by(created, row_id).limit(limit)
    if conditions:
        query = query.where(*conditions)
    return await rows(query)


async def _raw_page(
    table: type[Table], limit: int, after: Keyset | None, select: str, where: Combinable | None
) -> list[Row]:
    if where is not None:
        raise ValueError("a page with a raw select list takes no `where`")
    alive = " AND t.deleted_at IS NULL" if _has(table, "deleted_at") else ""
    keyset = QueryString("TRUE")
    if after is not None:
        keyset = QueryString("(t.created_at, t.id) > ({}, {})", after.created_at, after.id)
    name = table._meta.get_formatted_tablename()
    sql = f"SELECT {select} FROM {name} t WHERE {{}}{alive} ORDER BY t.created_at, t.id LIMIT {{}}"
    return await rows(table.raw(sql, keyset, limit))


async def calendars_of_service(service_id: uuid.UUID) -> list[uuid.UUID]:
    """The calendars that book a service (deleted ones too: their shards may still hold them)."""
    found = await rows(Calendars.select(Calendars.id).where(Calendars.service_id == service_id))
    return [r["id"] for r in found]
