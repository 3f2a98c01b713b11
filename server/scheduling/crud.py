"""The shape every catalog resource shares: list (paged), create, get, patch, delete, each
audited, each publishing `<entity>.created|updated|deleted` on the organization's channel."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web

from server.errors import not_found
from server.http import json_response, path_id, read_json
from server.routing import Access, Endpoint
from server.scheduling import repository as repo
from server.scheduling._web import Work, page_of, page_response, unit_of_work

Render = Callable[[Mapping[str, Any]], dict[str, Any]]
# Request body -> column values (validating references); `current` is None on create.
Columns = Callable[[Work, dict[str, Any], asyncpg.Record | None], Awaitable[dict[str, Any]]]
AfterWrite = Callable[[Work, uuid.UUID, dict[str, Any]], Awaitable[None]]
Fetch = Callable[[asyncpg.Connection, uuid.UUID], Awaitable[asyncpg.Record | None]]
ListFilter = Callable[[web.Request, Work], tuple[str, list[Any]]]
# A stored row as the API shows it (e.g. with its encrypted columns opened).
View = Callable[[Work, asyncpg.Record], Mapping[str, Any]]


async def _plain_columns(
    work: Work, body: dict[str, Any], current: asyncpg.Record | None
) -> dict[str, Any]:
    return dict(body)


async def _no_after(work: Work, row_id: uuid.UUID, body: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Resource:
    entity: str  # "service": audit entity, event prefix, message noun
    table: str
    path: str  # collection path, e.g. "/v1/services"
    tag: str
    render: Render
    create_schema: Mapping[str, Any]
    patch_schema: Mapping[str, Any]
    read: Access
    write: Access
    columns: Columns = _plain_columns
    after_write: AfterWrite = _no_after
    fetch: Fetch | None = None
    list_select: str = "*"
    list_filter: ListFilter | None = None
    soft: bool = True
    view: View | None = None

    async def one(self, conn: asyncpg.Connection, row_id: uuid.UUID) -> asyncpg.Record | None:
        if self.fetch is not None:
            return await self.fetch(conn, row_id)
        return await repo.get_row(conn, self.table, row_id)

    async def _shown(self, work: Work, row_id: uuid.UUID) -> Mapping[str, Any] | None:
        row = await self.one(work.conn, row_id)
        if row is None or self.view is None:
            return row
        return self.view(work, row)

    async def index(self, request: web.Request) -> web.Response:
        page = page_of(request)
        async with unit_of_work(request) as work:
            where: str = "TRUE"
            args: list[Any] = []
            if self.list_filter is not None:
                where, args = self.list_filter(request, work)
            rows = await repo.list_rows(
                work.conn, self.table, page, select=self.list_select, where=where, args=args
            )
        return json_response(page_response(rows, page, self.render, repo.creation_key))

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request, self.create_schema)
        async with unit_of_work(request) as work:
            values = await self.columns(work, body, None)
            created = await repo.insert_row(work.conn, self.table, values)
            await self.after_write(work, created["id"], body)
            row = await self._shown(work, created["id"])
            assert row is not None
            await work.audit(f"{self.entity}.create", self.entity, row["id"], None, row)
            work.emit_org(f"{self.entity}.created", {"id": row["id"]})
        return json_response(self.render(row), status=201)

    async def get(self, request: web.Request) -> web.Response:
        row_id = path_id(request, what=self.entity)
        async with unit_of_work(request) as work:
            row = await self._shown(work, row_id)
        if row is None:
            raise not_found(self.entity)
        return json_response(self.render(row))

    async def patch(self, request: web.Request) -> web.Response:
        row_id = path_id(request, what=self.entity)
        body = await read_json(request, self.patch_schema)
        async with unit_of_work(request) as work:
            before = await repo.get_row(work.conn, self.table, row_id, lock=True)
            if before is None:
                raise not_found(self.entity)
            before_view = await self._shown(work, row_id)
            values = await self.columns(work, body, before)
            if values:
                await repo.update_row(work.conn, self.table, row_id, values)
            await self.after_write(work, row_id, body)
            row = await self._shown(work, row_id)
            assert row is not None and before_view is not None
            await work.audit(f"{self.entity}.update", self.entity, row_id, before_view, row)
            work.emit_org(f"{self.entity}.updated", {"id": row_id})
        return json_response(self.render(row))

    async def delete(self, request: web.Request) -> web.Response:
        row_id = path_id(request, what=self.entity)
        async with unit_of_work(request) as work:
            if self.soft:
                row = await repo.soft_delete(work.conn, self.table, row_id)
            else:
                row = await work.conn.fetchrow(
                    f"DELETE FROM {self.table} WHERE id = $1 RETURNING *", row_id
                )
            if row is None:
                raise not_found(self.entity)
            await work.audit(f"{self.entity}.delete", self.entity, row_id, row, None)
            work.emit_org(f"{self.entity}.deleted", {"id": row_id})
        return web.Response(status=204)

    def endpoints(self) -> list[Endpoint]:
        one = self.path + "/{id}"
        noun = self.entity.replace("_", " ")
        paged = {"limit": "page size (1-200, default 50)", "cursor": "next_cursor of the last page"}
        return [
            Endpoint(
                "GET", self.path, self.index, self.read, f"List {noun}s", self.tag, query=paged
            ),
            Endpoint(
                "POST",
                self.path,
                self.create,
                self.write,
                f"Create a {noun}",
                self.tag,
                request_schema=self.create_schema,
                status=201,
                errors=(409,),
            ),
            Endpoint("GET", one, self.get, self.read, f"Get a {noun}", self.tag, errors=(404,)),
            Endpoint(
                "PATCH",
                one,
                self.patch,
                self.write,
                f"Update a {noun}",
                self.tag,
                request_schema=self.patch_schema,
                errors=(404, 409),
            ),
            Endpoint(
                "DELETE",
                one,
                self.delete,
                self.write,
                f"Delete a {noun}",
                self.tag,
                status=204,
                errors=(404,),
            ),
        ]
