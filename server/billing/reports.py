"""REST endpoint of the reports: `GET /v1/reports/{kind}?format=csv|xlsx|json&from=&to=`
(kinds: invoice-lines, revenue, outstanding, ageing, adherence, sessions; revenue takes
`group_by=month|day|service|specialist|location`, where location groups by calendar: the
schema has no location yet). Owner and admins only, in their own clinic; the owner's reports
carry no patient names (aggregates and the clinic's own data only).

Streaming: CSV is written to the response batch by batch as the cursor reads; XLSX is written
with bounded memory to a temporary file (XlsxWriter's constant-memory mode, off the event loop)
and then streamed in chunks; JSON is streamed row by row."""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import UTC, date, datetime

import orjson
from aiohttp import web

from pipelines.exports import XlsxSheet, cell_text, csv_header, csv_rows
from server.billing import money_schemas as schemas
from server.errors import validation_failed
from server.routing import Endpoint, roles
from server.web.params import query_date
from server.work import Work, unit_of_work
from storage.clinic_day import clinic_today
from storage.reports import MAX_DAYS, GroupBy, Query, Report, ReportKind, report
from storage.types import Role

TAG = "billing"
READERS = roles(Role.OWNER, Role.ADMIN)
CHUNK = 256 * 1024
FORMATS = ("json", "csv", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _query(request: web.Request, today: date, names: bool) -> Query:
    """The period defaults to the clinic's month so far, in the clinic's own days."""
    start = query_date(request, "from", today.replace(day=1))
    end = query_date(request, "to", today)
    if start > end or (end - start).days > MAX_DAYS:
        raise validation_failed({"from": f"must be on or before to, at most {MAX_DAYS} days"})
    raw = request.query.get("group_by", GroupBy.MONTH.value)
    try:
        group_by = GroupBy(raw)
    except ValueError:
        raise validation_failed({"group_by": f"must be one of {schemas.GROUP_BY_VALUES}"}) from None
    as_of = query_date(request, "as_of", end)
    return Query(start, end, names, group_by, as_of)


def _filename(kind: ReportKind, q: Query, ext: str) -> str:
    return f"{kind.value}-{q.date_from.isoformat()}-{q.date_to.isoformat()}.{ext}"


async def _json(request: web.Request, built: Report) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    head = {"title": built.title, "columns": [c.name for c in built.columns]}
    await response.write(orjson.dumps(head)[:-1] + b',"rows":[')
    first = True
    async for batch in built.batches:
        parts = [
            orjson.dumps([cell_text(c, v) if v is not None else None
                          for c, v in zip(built.columns, row, strict=True)])
            for row in batch
        ]  # fmt: skip
        if parts:
            await response.write((b"" if first else b",") + b",".join(parts))
            first = False
    await response.write(b"]}")
    await response.write_eof()
    return response


async def _csv(request: web.Request, built: Report, name: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{name}"',
    })  # fmt: skip
    await response.prepare(request)
    await response.write(csv_header(built.columns))
    async for batch in built.batches:
        await response.write(csv_rows(built.columns, batch))
    await response.write_eof()
    return response


async def _xlsx(request: web.Request, built: Report, name: str) -> web.StreamResponse:
    fd, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(fd)
    try:
        sheet = XlsxSheet(path, built.title, built.columns)
        try:
            async for batch in built.batches:
                await asyncio.to_thread(sheet.add, batch)
        finally:
            await asyncio.to_thread(sheet.close)
        # A local temporary file, read in chunks: each read is a page-cache copy, not a wait.
        with open(path, "rb") as file:  # noqa: ASYNC230
            response = web.StreamResponse(headers={
                "Content-Type": XLSX_TYPE,
                "Content-Disposition": f'attachment; filename="{name}"',
                "Content-Length": str(os.fstat(file.fileno()).st_size),
            })  # fmt: skip
            await response.prepare(request)
            while chunk := file.read(CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        os.unlink(path)


async def get_report(request: web.Request) -> web.StreamResponse:
    try:
        kind = ReportKind(request.match_info["kind"])
    except ValueError:
        raise validation_failed(
            {"kind": f"must be one of {', '.join(k.value for k in ReportKind)}"}
        ) from None
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise validation_failed({"format": "must be json, csv or xlsx"})
    async with unit_of_work(request, Work) as work:
        today = await clinic_today(work.conn, datetime.now(UTC))
        q = _query(request, today, names=work.principal.role is Role.ADMIN)
        await work.audit("report.export", "report", kind.value,
                         after={"format": fmt, "from": q.date_from.isoformat(),
                                "to": q.date_to.isoformat()})  # fmt: skip
        built = report(work.conn, kind, q)
        if fmt == "csv":
            return await _csv(request, built, _filename(kind, q, "csv"))
        if fmt == "xlsx":
            return await _xlsx(request, built, _filename(kind, q, "xlsx"))
        return await _json(request, built)


ENDPOINTS: list[Endpoint] = [
    Endpoint("GET", "/v1/reports/{kind}", get_report, READERS,
             "A money or telerehab report, streamed as JSON, CSV or XLSX", TAG,
             response_schema=schemas.REPORT,
             query={"format": "json | csv | xlsx", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD",
                    "group_by": "month | day | service | specialist | location (revenue)",
                    "as_of": "YYYY-MM-DD (outstanding, ageing)"},
             errors=(422,)),
]  # fmt: skip
