"""The shape every catalog resource shares: list (paged), create, get, patch, delete, each
audited, each publishing `<entity>.created|updated|deleted` on the organization's channel. The
rows are read and written by storage/scheduling's catalog kit over the resource's table.

A resource whose rows are rules of availability (services, specialists, calendars) takes its
edits from the calendar shard owning the organization instead (`rule_edit`): the shard writes
them and pushes the slot changes before the edit is acknowledged (actors/calendar/_rules.py)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web
from piccolo.table import Table

from actors.calendar import messages as m
from server.errors import not_found
from server.http import json_response, jsonable, path_id, read_json
from server.routing import Access, Endpoint, Handler, page
from server.scheduling import repository as repo
from server.scheduling._web import Work, page_of, page_response, publish, unit_of_work
from server.scheduling.shards import settled
from server.services import CALENDARS_KEY
from storage.scheduling import delete_row, get_row, insert_row, page_rows, update_row
from storage.types import Channel

Render = Callable[[Mapping[str, Any]], dict[str, Any]]
# Request body -> column values (validating references); `current` is None on create.
Columns = Callable[[Work, dict[str, Any], Mapping[str, Any] | None], Awaitable[dict[str, Any]]]
AfterWrite = Callable[[Work, uuid.UUID, dict[str, Any]], Awaitable[None]]
# Once the write committed: (request, organization id), e.g. to tell the calendar shard.
AfterCommit = Callable[[web.Request, uuid.UUID], Awaitable[None]]
# One row as the API shows it, with its nested parts (a calendar's members, say).
Fetch = Callable[[asyncpg.Connection, uuid.UUID], Awaitable[Mapping[str, Any] | None]]
# A stored row as the API shows it (e.g. with its encrypted columns opened).
View = Callable[[Work, Mapping[str, Any]], Mapping[str, Any]]


async def _plain_columns(
    work: Work, body: dict[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    return dict(body)


async def _no_after(work: Work, row_id: uuid.UUID, body: dict[str, Any]) -> None:
    return None


async def rule_edit(
    request: web.Request, command: m.RuleEdit, event: str, data: Mapping[str, Any]
) -> m.RulesEdited:
    """The owning shard's answer to a rule edit, then `event` on the organization's channel
    (published here, not by a unit of work: the shard wrote the edit and its audit row, and
    already applied it to the live slots)."""
    edited = await settled(request.app[CALENDARS_KEY].edit_rules(command), m.RulesEdited)
    channel = Channel.org(command.organization_id).name
    await publish(request, [(channel, event, jsonable(data))])
    return edited


@dataclass(frozen=True, slots=True)
class Resource:
    """A catalog resource over one table. A table with `deleted_at` is soft-deleted (see
    storage/scheduling/_catalog.py)."""

    entity: str  # "service": audit entity, event prefix, message noun
    table: type[Table] | str  # the Piccolo table (or its name)
    path: str  # collection path, e.g. "/v1/services"
    tag: str
    render: Render
    create_schema: Mapping[str, Any]
    patch_schema: Mapping[str, Any]
    read: Access
    write: Access
    columns: Columns = _plain_columns
    after_write: AfterWrite = _no_after
    after_commit: AfterCommit | None = None
    fetch: Fetch | None = None
    # Storage's select list for pages (raw SQL over the table as `t`), with the nested parts.
    list_select: str | None = None
    view: View | None = None
    # The response body of one row (`render`'s shape); lists are pages of it.
    schema: Mapping[str, Any] | None = None

    @property
    def rows(self) -> type[Table]:
        return repo.table_named(self.table) if isinstance(self.table, str) else self.table

    async def one(self, conn: asyncpg.Connection, row_id: uuid.UUID) -> Mapping[str, Any] | None:
        if self.fetch is not None:
            return await self.fetch(conn, row_id)
        return await get_row(self.rows, row_id)

    async def _shown(self, work: Work, row_id: uuid.UUID) -> Mapping[str, Any] | None:
        row = await self.one(work.conn, row_id)
        if row is None or self.view is None:
            return row
        return self.view(work, row)

    async def index(self, request: web.Request) -> web.Response:
        page = page_of(request)
        after = repo.creation_cursor(page)
        async with unit_of_work(request) as work:
            found = await page_rows(self.rows, page.limit + 1, after, select=self.list_select)
            shown = found if self.view is None else [self.view(work, r) for r in found]
        return json_response(page_response(shown, page, self.render, repo.creation_key))

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request, self.create_schema)
        async with unit_of_work(request) as work:
            values = await self.columns(work, body, None)
            created = await insert_row(self.rows, values)
            await self.after_write(work, created["id"], body)
            row = await self._shown(work, created["id"])
            assert row is not None
            await work.audit(f"{self.entity}.create", self.entity, row["id"], None, row)
            work.emit_org(f"{self.entity}.created", {"id": row["id"]})
        await self._committed(request, work)
        return json_response(self.render(row), status=201)

    async def _committed(self, request: web.Request, work: Work) -> None:
        if self.after_commit is not None:
            await self.after_commit(request, work.org_id)

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
            before = await get_row(self.rows, row_id, lock=True)
            if before is None:
                raise not_found(self.entity)
            before_view = await self._shown(work, row_id)
            values = await self.columns(work, body, before)
            if values:
                await update_row(self.rows, row_id, values)
            await self.after_write(work, row_id, body)
            row = await self._shown(work, row_id)
            assert row is not None and before_view is not None
            await work.audit(f"{self.entity}.update", self.entity, row_id, before_view, row)
            work.emit_org(f"{self.entity}.updated", {"id": row_id})
        await self._committed(request, work)
        return json_response(self.render(row))

    async def delete(self, request: web.Request) -> web.Response:
        row_id = path_id(request, what=self.entity)
        async with unit_of_work(request) as work:
            row = await delete_row(self.rows, row_id)
            if row is None:
                raise not_found(self.entity)
            await work.audit(f"{self.entity}.delete", self.entity, row_id, row, None)
            work.emit_org(f"{self.entity}.deleted", {"id": row_id})
        await self._committed(request, work)
        return web.Response(status=204)

    def endpoints(
        self, *, patch: Handler | None = None, delete: Handler | None = None
    ) -> list[Endpoint]:
        """The five routes; `patch` / `delete` replace the generic handlers (a rule edit)."""
        one = self.path + "/{id}"
        noun = self.entity.replace("_", " ")
        paged = {"limit": "page size (1-200, default 50)", "cursor": "next_cursor of the last page"}
        return [
            Endpoint(
                "GET",
                self.path,
                self.index,
                self.read,
                f"List {noun}s",
                self.tag,
                query=paged,
                response_schema=None if self.schema is None else page(self.schema),
            ),
            Endpoint(
                "POST",
                self.path,
                self.create,
                self.write,
                f"Create a {noun}",
                self.tag,
                request_schema=self.create_schema,
                response_schema=self.schema,
                status=201,
                errors=(409,),
            ),
            Endpoint(
                "GET",
                one,
                self.get,
                self.read,
                f"Get a {noun}",
                self.tag,
                response_schema=self.schema,
                errors=(404,),
            ),
            Endpoint(
                "PATCH",
                one,
                patch or self.patch,
                self.write,
                f"Update a {noun}",
                self.tag,
                request_schema=self.patch_schema,
                response_schema=self.schema,
                errors=(404, 409),
            ),
            Endpoint(
                "DELETE",
                one,
                delete or self.delete,
                self.write,
                f"Delete a {noun}",
                self.tag,
                status=204,
                errors=(404,),
            ),
        ]
