"""The reports' queries: each one a header of typed columns and its rows in batches, read with a
server-side cursor so a 50,000-line export never sits in memory whole.

Who sees names: `names=True` (an admin) adds the patient's name; the owner's reports
(`names=False`) carry no patient column at all, only aggregates and the clinic's own data.
Every query runs in the caller's tenant transaction (row-level security applies).

A visit's location (revenue by location): where the room or equipment it reserved stands, else
where its specialist works at its start by their weekly hours, else "(no location)": a line
without a visit (a product, a plan) has none."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import asyncpg

from pipelines.exports import Column, Kind, Row
from pipelines.reports import Outstanding, ageing, bucket_of
from storage.clinic_day import ZONE_SQL
from storage.telerehab import Frequency, scheduled_sessions

BATCH = 2000
Batches = AsyncIterator[Sequence[Row]]


class ReportKind(StrEnum):
    INVOICE_LINES = "invoice-lines"
    REVENUE = "revenue"
    OUTSTANDING = "outstanding"
    AGEING = "ageing"
    ADHERENCE = "adherence"
    SESSIONS = "sessions"


class GroupBy(StrEnum):
    MONTH = "month"
    DAY = "day"
    SERVICE = "service"
    SPECIALIST = "specialist"
    LOCATION = "location"


@dataclass(frozen=True, slots=True)
class Query:
    date_from: date
    date_to: date  # inclusive
    names: bool
    group_by: GroupBy = GroupBy.MONTH
    as_of: date | None = None


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    columns: Sequence[Column]
    batches: Batches


_PATIENT = Column("patient", Kind.TEXT, 24)
_M = Kind.MONEY


async def _cursor(
    conn: asyncpg.Connection, sql: str, *args: Any
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Rows of `sql` in batches from a server-side cursor (inside the tenant transaction)."""
    cursor = await conn.cursor(sql, *args)
    while True:
        found = await cursor.fetch(BATCH)
        if not found:
            return
        yield [tuple(r.values()) for r in found]


# Issued documents only (a draft is not revenue, a void one never was); a credit note counts
# negative. `issued_at` is read in the clinic's time zone for the day and month.
_TZ = ZONE_SQL


def invoice_lines(conn: asyncpg.Connection, q: Query) -> Report:
    patient = ["p.last_name || ', ' || p.first_name"] if q.names else []
    columns = [
        Column("number", width=14), Column("issued_on", Kind.DATE, 12), Column("status"),
        Column("kind"), *([_PATIENT] if q.names else []), Column("service", width=20),
        Column("service_code"), Column("specialist", width=20), Column("description", width=30),
        Column("quantity", Kind.INTEGER, 9), Column("unit_price", _M),
        Column("tax_rate_percent", Kind.PERCENT, 9), Column("net", _M), Column("tax", _M),
        Column("gross", _M), Column("currency", width=9),
    ]  # fmt: skip
    sql = f"""
      SELECT i.number, (i.issued_at AT TIME ZONE {_TZ})::date, i.status, i.kind,
             {"".join(c + ", " for c in patient)}
             s.name, l.service_code, sp.name, l.description, l.quantity, l.unit_price,
             l.tax_rate_bp, l.net_amount, l.tax_amount, l.gross_amount, i.currency
        FROM invoice_lines l
        JOIN invoices i ON i.organization_id = l.organization_id AND i.id = l.invoice_id
        JOIN patients p ON p.organization_id = i.organization_id AND p.id = i.patient_id
        LEFT JOIN services s ON s.organization_id = l.organization_id AND s.id = l.service_id
        LEFT JOIN appointments a
               ON a.organization_id = l.organization_id AND a.id = l.appointment_id
        LEFT JOIN specialists sp
               ON sp.organization_id = a.organization_id AND sp.id = a.specialist_id
       WHERE i.issued_at IS NOT NULL
         AND (i.issued_at AT TIME ZONE {_TZ})::date BETWEEN $1 AND $2
       ORDER BY i.issued_at, i.number, l.position"""
    return Report("Invoice lines", columns, _cursor(conn, sql, q.date_from, q.date_to))


_GROUP_SQL = {
    GroupBy.MONTH: f"to_char((i.issued_at AT TIME ZONE {_TZ}), 'YYYY-MM')",
    GroupBy.DAY: f"to_char((i.issued_at AT TIME ZONE {_TZ}), 'YYYY-MM-DD')",
    GroupBy.SERVICE: "coalesce(s.name, '(no service)')",
    GroupBy.SPECIALIST: "coalesce(sp.name, '(no specialist)')",
    GroupBy.LOCATION: "coalesce(loc.name, '(no location)')",
}
_GROUP_COLUMN = {
    GroupBy.MONTH: "month", GroupBy.DAY: "day", GroupBy.SERVICE: "service",
    GroupBy.SPECIALIST: "specialist", GroupBy.LOCATION: "location",
}  # fmt: skip


# Read only when grouping by location: the reserved room's (or equipment's) location, else the
# specialist's weekly-hours location at the visit's local start.
_LOCATION_JOIN = """
        LEFT JOIN LATERAL (
          SELECT coalesce(
            (SELECT coalesce(r.location_id, e.location_id)
               FROM appointment_resources ar
               LEFT JOIN rooms r ON r.organization_id = ar.organization_id AND r.id = ar.room_id
               LEFT JOIN equipment e
                      ON e.organization_id = ar.organization_id AND e.id = ar.equipment_id
              WHERE ar.organization_id = a.organization_id AND ar.appointment_id = a.id
              ORDER BY ar.room_id IS NULL, ar.created_at LIMIT 1),
            (SELECT h.location_id
               FROM specialist_hours h,
                    LATERAL (SELECT a.starts_at AT TIME ZONE sp.timezone AS at) z
              WHERE h.organization_id = a.organization_id AND h.specialist_id = a.specialist_id
                AND h.location_id IS NOT NULL AND h.weekday = extract(isodow FROM z.at)
                AND h.start_min <= extract(epoch FROM z.at::time) / 60
                AND h.end_min > extract(epoch FROM z.at::time) / 60
              ORDER BY h.start_min LIMIT 1)) AS location_id
        ) placed ON a.id IS NOT NULL
        LEFT JOIN locations loc
               ON loc.organization_id = a.organization_id AND loc.id = placed.location_id"""


def revenue(conn: asyncpg.Connection, q: Query) -> Report:
    """Net, tax and gross of issued invoices less credit notes, per group and currency."""
    key = _GROUP_SQL[q.group_by]
    columns = [
        Column(_GROUP_COLUMN[q.group_by], width=20), Column("currency", width=9),
        Column("invoices", Kind.INTEGER, 9), Column("lines", Kind.INTEGER, 9),
        Column("net", _M), Column("tax", _M), Column("gross", _M),
    ]  # fmt: skip
    sign = "CASE WHEN i.kind = 'credit_note' THEN -1 ELSE 1 END"
    sql = f"""
      SELECT {key} AS k, i.currency, count(DISTINCT i.id), count(*),
             sum({sign} * l.net_amount)::bigint, sum({sign} * l.tax_amount)::bigint,
             sum({sign} * l.gross_amount)::bigint
        FROM invoice_lines l
        JOIN invoices i ON i.organization_id = l.organization_id AND i.id = l.invoice_id
        LEFT JOIN services s ON s.organization_id = l.organization_id AND s.id = l.service_id
        LEFT JOIN appointments a
               ON a.organization_id = l.organization_id AND a.id = l.appointment_id
        LEFT JOIN specialists sp
               ON sp.organization_id = a.organization_id AND sp.id = a.specialist_id
        {_LOCATION_JOIN if q.group_by is GroupBy.LOCATION else ""}
       WHERE i.issued_at IS NOT NULL AND i.status <> 'void'
         AND (i.issued_at AT TIME ZONE {_TZ})::date BETWEEN $1 AND $2
       GROUP BY 1, 2 ORDER BY 1, 2"""
    return Report("Revenue", columns, _cursor(conn, sql, q.date_from, q.date_to))


_OPEN_SQL = """
  SELECT i.number, {patient} i.due_on, i.currency, i.total_amount, i.amount_paid,
         i.total_amount - i.amount_paid AS balance
    FROM invoices i
    JOIN patients p ON p.organization_id = i.organization_id AND p.id = i.patient_id
   WHERE i.kind = 'invoice' AND i.status IN ('issued', 'partially_paid', 'overdue')
     AND i.total_amount > i.amount_paid
   ORDER BY i.due_on NULLS LAST, i.number"""


def outstanding(conn: asyncpg.Connection, q: Query) -> Report:
    """Every invoice with a balance still due, with its age bucket on `as_of`."""
    as_of = q.as_of or q.date_to
    columns = [
        Column("number", width=14), *([_PATIENT] if q.names else []),
        Column("due_on", Kind.DATE, 12), Column("currency", width=9), Column("total", _M),
        Column("paid", _M), Column("balance", _M), Column("days_overdue", Kind.INTEGER, 9),
        Column("bucket", width=9),
    ]  # fmt: skip
    patient = "p.last_name || ', ' || p.first_name, " if q.names else ""

    async def batches() -> Batches:
        async for batch in _cursor(conn, _OPEN_SQL.format(patient=patient)):
            out: list[Row] = []
            for r in batch:
                due = r[-5] or as_of
                late = max(0, (as_of - due).days)
                out.append((*r, late, bucket_of(due, as_of).name))
            yield out

    return Report("Outstanding", columns, batches())


def ageing_summary(conn: asyncpg.Connection, q: Query) -> Report:
    """Outstanding balances per currency and age bucket (no names: an aggregate)."""
    as_of = q.as_of or q.date_to
    columns = [
        Column("currency", width=9), Column("bucket", width=9),
        Column("invoices", Kind.INTEGER, 9), Column("balance", _M),
    ]  # fmt: skip

    async def batches() -> Batches:
        items: list[Outstanding] = []
        async for batch in _cursor(conn, _OPEN_SQL.format(patient="")):
            items.extend(Outstanding(r[2], r[1] or as_of, int(r[5])) for r in batch)
        yield list(ageing(items, as_of))

    return Report("Ageing", columns, batches())


def adherence(conn: asyncpg.Connection, q: Query) -> Report:
    """Telerehab adherence per plan assignment in the period: sessions scheduled by its
    frequency (storage.telerehab's rule) and completed."""
    columns = [
        *([_PATIENT] if q.names else []), Column("plan", width=24),
        Column("specialist", width=20), Column("starts_on", Kind.DATE, 12),
        Column("status"), Column("scheduled", Kind.INTEGER, 9),
        Column("completed", Kind.INTEGER, 9), Column("adherence_percent", Kind.PERCENT, 9),
    ]  # fmt: skip
    patient = "p.last_name || ', ' || p.first_name, " if q.names else ""
    sql = f"""
      SELECT {patient} t.name, sp.name, a.starts_on, a.status, a.frequency, a.ends_on,
             (a.ended_at AT TIME ZONE {_TZ})::date,
             (SELECT count(*) FROM session_completions c
               WHERE c.organization_id = a.organization_id AND c.assignment_id = a.id
                 AND c.status = 'completed'
                 AND (c.completed_at AT TIME ZONE {_TZ})::date BETWEEN $1 AND $2)
        FROM plan_assignments a
        JOIN patients p ON p.organization_id = a.organization_id AND p.id = a.patient_id
        JOIN treatment_plans t ON t.id = a.plan_id
        LEFT JOIN specialists sp
               ON sp.organization_id = a.organization_id AND sp.id = a.specialist_id
       WHERE a.starts_on <= $2 AND p.deleted_at IS NULL
       ORDER BY a.starts_on, a.id"""

    async def batches() -> Batches:
        async for batch in _cursor(conn, sql, q.date_from, q.date_to):
            out: list[Row] = []
            for r in batch:
                *head, frequency, ends_on, ended_on, done = r
                last = ends_on if ended_on is None or (ends_on and ends_on < ended_on) else ended_on
                scheduled = scheduled_sessions(
                    Frequency.from_json(frequency), starts_on=head[-2], ends_on=last,
                    period_from=q.date_from, period_to=q.date_to,
                )  # fmt: skip
                percent = (int(done) * 10000 // scheduled) if scheduled else None
                out.append((*head, scheduled, int(done), percent))
            yield out

    return Report("Adherence", columns, batches())


def sessions(conn: asyncpg.Connection, q: Query) -> Report:
    """Telerehab sessions done in the period, one row each."""
    columns = [
        Column("completed_at", Kind.INSTANT, 20), *([_PATIENT] if q.names else []),
        Column("plan", width=24), Column("session_index", Kind.INTEGER, 9),
        Column("source"), Column("status"), Column("duration_s", Kind.INTEGER, 9),
    ]  # fmt: skip
    patient = "p.last_name || ', ' || p.first_name, " if q.names else ""
    sql = f"""
      SELECT c.completed_at, {patient} t.name, c.session_index, c.source, c.status, c.duration_s
        FROM session_completions c
        JOIN plan_assignments a ON a.organization_id = c.organization_id AND a.id = c.assignment_id
        JOIN patients p ON p.organization_id = c.organization_id AND p.id = c.patient_id
        JOIN treatment_plans t ON t.id = a.plan_id
       WHERE (c.completed_at AT TIME ZONE {_TZ})::date BETWEEN $1 AND $2
       ORDER BY c.completed_at, c.id"""
    return Report("Sessions", columns, _cursor(conn, sql, q.date_from, q.date_to))


BUILDERS = {
    ReportKind.INVOICE_LINES: invoice_lines,
    ReportKind.REVENUE: revenue,
    ReportKind.OUTSTANDING: outstanding,
    ReportKind.AGEING: ageing_summary,
    ReportKind.ADHERENCE: adherence,
    ReportKind.SESSIONS: sessions,
}


def report(conn: asyncpg.Connection, kind: ReportKind, q: Query) -> Report:
    """The report's columns and its batches (read lazily, inside the caller's transaction)."""
    return BUILDERS[kind](conn, q)


MAX_DAYS = 3 * 366
