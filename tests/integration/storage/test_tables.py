"""The Piccolo tables describe the migrated schema exactly, and a Piccolo query runs in the
transaction (and so the row-level-security context) of the block it is awaited in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from piccolo.columns import Array, Column

from server.resources import DB_KEY
from server.seed import seed_demo
from storage.db import Database
from storage.orm import NoTransaction
from storage.tables import TABLES, AuditLog, Organizations, Patients

Client = TestClient[web.Request, web.Application]
MARK = datetime(2001, 2, 3, tzinfo=UTC)
# Not described for the query builder: the migrations' own bookkeeping and the seal key, which
# only the schema owner reads (storage/db.py reads it with SQL, once).
UNDESCRIBED = {"migration", "tenant_seal_key"}
# Piccolo's column classes by the database's type names.
TYPES = {
    "uuid": "UUID",
    "text": "Text",
    "inet": "Text",
    "character varying": "Varchar",
    "timestamp with time zone": "Timestamptz",
    "timestamp without time zone": "Timestamp",
    "date": "Date",
    "integer": "Integer",
    "bigint": "BigInt",
    "smallint": "SmallInt",
    "boolean": "Boolean",
    "jsonb": "JSONB",
    "bytea": "Bytea",
    "double precision": "DoublePrecision",
    "real": "Real",
    "ARRAY": "Array",
}


def _described(column: Column) -> tuple[str, bool]:
    kind = "Array" if isinstance(column, Array) else type(column).__name__
    kind = {"BigSerial": "BigInt", "Serial": "Integer"}.get(kind, kind)  # a sequence's default
    return kind, bool(column._meta.null)


async def test_every_table_and_column_is_described(client: Client) -> None:
    async with client.app[DB_KEY].platform() as conn:
        rows = await conn.fetch(
            """SELECT c.relname, a.attname, a.attnotnull, a.attgenerated <> '' AS generated,
                      CASE WHEN t.typcategory = 'A' THEN 'ARRAY'
                           ELSE format_type(a.atttypid, NULL) END AS type
               FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               JOIN pg_type t ON t.oid = a.atttypid
               WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"""
        )
    database: dict[str, dict[str, tuple[str, bool]]] = {}
    for r in rows:
        if r["relname"] not in UNDESCRIBED:
            nullable = not r["attnotnull"] or r["generated"]
            database.setdefault(r["relname"], {})[r["attname"]] = (TYPES[r["type"]], nullable)
    described = {
        table._meta.tablename: {c._meta.db_column_name: _described(c) for c in table._meta.columns}
        for table in TABLES
    }
    assert described == database


async def test_a_piccolo_query_runs_in_the_tenant_transaction(client: Client) -> None:
    db = client.app[DB_KEY]
    a, b = await seed_demo(db), await seed_demo(db)
    org_a, org_b = uuid.UUID(a["organization_id"]), uuid.UUID(b["organization_id"])

    async with db.tenant(org_a):
        patients = await Patients.select(Patients.organization_id)
        organizations = await Organizations.select(Organizations.id)
    assert patients and {r["organization_id"] for r in patients} == {org_a}
    assert [r["id"] for r in organizations] == [org_a]

    async with db.tenant(org_b) as conn:
        # The same transaction as the raw SQL beside it: SQL sees the builder's write.
        await Patients.update({Patients.updated_at: MARK}).where(Patients.organization_id == org_b)
        written = await conn.fetchval("SELECT count(*) FROM patients WHERE updated_at = $1", MARK)
    assert written and written == await _count_in(db, org_b)

    async with db.tenant(org_b) as conn:
        # JSON goes through the builder as JSON, not as a JSON-encoded string.
        row = await AuditLog.insert(
            AuditLog(organization_id=org_b, action="orm.test", entity="t", diff={"a": [1, "x"]})
        ).returning(AuditLog.id)
        stored = await conn.fetchrow(
            "SELECT diff, jsonb_typeof(diff) AS kind FROM audit_log WHERE id = $1", row[0]["id"]
        )
        read = await AuditLog.select(AuditLog.diff).where(AuditLog.id == row[0]["id"]).first()
    assert stored is not None and stored["kind"] == "object"
    assert stored["diff"] == {"a": [1, "x"]} and read == {"diff": {"a": [1, "x"]}}

    async with db.anonymous():
        assert await Patients.count() == 0  # no tenant: row-level security shows nothing

    with pytest.raises(NoTransaction):
        await Patients.count()


async def _count_in(db: Database, org: uuid.UUID) -> int:
    async with db.tenant(org):
        return int(await Patients.count())
